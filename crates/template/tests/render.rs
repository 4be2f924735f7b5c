//! Templates rendered as the original renders them: Go's semantics, the functions, includes.

use infrakit_template::Engine;
use serde_json::json;

fn render(text: &str, context: serde_json::Value) -> String {
    Engine::default().render_url(&format!("str://{text}"), &context).unwrap()
}

fn fails(text: &str) -> String {
    Engine::default().render_url(&format!("str://{text}"), &json!({})).unwrap_err().to_string()
}

#[test]
fn actions_pipelines_variables_and_control_flow() {
    let context = json!({"Name": "web", "Size": 3, "Tags": {"tier": "front"}, "Zones": ["a", "b"]});
    assert_eq!(render("{{ .Name }}-{{ .Size }}", context.clone()), "web-3");
    assert_eq!(render("{{ $n := .Name }}{{ $n | upper }}", context.clone()), "WEB");
    assert_eq!(render("{{ range $i, $z := .Zones }}{{ $i }}{{ $z }} {{ end }}", context.clone()), "0a 1b ");
    assert_eq!(render("{{ with .Tags }}{{ .tier }}{{ end }}", context.clone()), "front");
    assert_eq!(render("{{ if gt .Size 2 }}big{{ else }}small{{ end }}", context.clone()), "big");
    assert_eq!(render(r#"{{ define "x" }}[{{ . }}]{{ end }}{{ template "x" .Name }}"#, context.clone()), "[web]");
    assert_eq!(render(r#"{{ block "b" . }}default{{ end }}"#, context.clone()), "default");
    assert_eq!(render("a {{- /* a comment */ -}} b", context), "ab", "trimming on both sides");
}

#[test]
fn go_semantics_where_they_matter() {
    assert_eq!(render("{{ .Missing }}", json!({})), "<no value>", "a missing key prints as Go prints it");
    assert_eq!(render("{{ if .Missing }}y{{ else }}n{{ end }}", json!({})), "n");
    assert_eq!(
        render(
            r#"{{ if "" }}y{{ else }}n{{ end }}{{ if 0 }}y{{ else }}n{{ end }}{{ if list }}y{{ else }}n{{ end }}"#,
            json!({})
        ),
        "nnn"
    );
    assert_eq!(render("x\n  {{- 1 }}", json!({})), "x1");
}

#[test]
fn the_sprig_functions_the_originals_specs_use() {
    assert_eq!(
        render(r#"{{ .Name | default "none" }}|{{ .Missing | default "none" }}"#, json!({"Name": "n"})),
        "n|none"
    );
    assert_eq!(render(r#"{{ list 1 2 3 | join "," }}"#, json!({})), "1,2,3");
    assert_eq!(
        render(r#"{{ $d := dict "a" 1 "b" 2 }}{{ keys $d | join " " }} {{ hasKey $d "a" }}"#, json!({})),
        "a b true"
    );
    assert_eq!(render(r#"{{ "a,b" | splitList "," | last }}"#, json!({})), "b");
    assert_eq!(
        render(r#"{{ add 1 2 3 }} {{ sub 5 2 }} {{ mul 2 3 }} {{ div 7 2 }} {{ mod 7 2 }} {{ add1 1 }}"#, json!({})),
        "6 3 6 3 1 2"
    );
    assert_eq!(render(r#"{{ "hi" | b64enc }} {{ "aGk=" | b64dec }}"#, json!({})), "aGk= hi");
    assert_eq!(
        render(r#"{{ "x y" | title }} {{ " s " | trim | quote }} {{ "ab" | repeat 2 }}"#, json!({})),
        r#"X Y "s" abab"#
    );
    assert_eq!(render(r#"{{ "line1\nline2" | indent 2 }}"#, json!({})), "  line1\n  line2");
    assert_eq!(
        render(r#"{{ replace "a" "b" "aaa" }} {{ contains "b" "abc" }} {{ hasPrefix "a" "abc" }}"#, json!({})),
        "bbb true true"
    );
    assert_eq!(
        render(r#"{{ coalesce "" .Missing "third" }} {{ empty "" }} {{ ternary "y" "n" true }}"#, json!({})),
        "third true y"
    );
    let error = fails("{{ div 1 0 }}");
    assert!(error.contains("div: division by zero"), "{error}");
}

#[test]
fn the_originals_own_functions() {
    assert_eq!(render(r#"{{ dict "a" (list 1 2) | jsonEncode }}"#, json!({})), r#"{"a":[1,2]}"#);
    assert_eq!(render(r#"{{ $v := jsonDecode "{\"k\": [1, 2]}" }}{{ index $v.k 1 }}"#, json!({})), "2");
    assert_eq!(render(r#"{{ $v := yamlDecode "k: v" }}{{ $v.k }}"#, json!({})), "v");
    assert_eq!(render(r#"{{ dict "k" "v" | yamlEncode }}"#, json!({})).trim(), "k: v");
    assert_eq!(render(r#"{{ range lines "a\nb" }}[{{ . }}]{{ end }}"#, json!({})), "[a][b]");
    assert_eq!(render(r#"{{ indexOf "b" (list "a" "b") }} {{ indexOf "z" (list "a") }}"#, json!({})), "1 -1");
    assert!(render("{{ unixtime }}", json!({})).parse::<i64>().is_ok_and(|t| t > 1_700_000_000));
}

#[test]
fn variables_given_and_set_are_shared_by_a_renders_templates() {
    let engine = Engine::new([("size".to_owned(), "3".to_owned())]);
    let text = r#"str://{{ var "size" }} {{ var "zone" "b" }}{{ var "zone" }} {{ global "zone" }}"#;
    assert_eq!(engine.render_url(text, &json!({})).unwrap(), "3 b b");
}

#[test]
fn includes_resolve_against_the_including_file_and_a_cycle_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("parts")).unwrap();
    std::fs::write(
        dir.path().join("main.tpl"),
        r#"main:{{ include "parts/part.tpl" .Name }}{{ source "parts/set.tpl" }}{{ var "set" }}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("parts/part.tpl"), "part of {{ . }}").unwrap();
    std::fs::write(dir.path().join("parts/set.tpl"), r#"{{ var "set" "yes" }}ignored output"#).unwrap();
    let url = format!("file://{}", dir.path().join("main.tpl").display());
    assert_eq!(Engine::default().render_url(&url, &json!({"Name": "web"})).unwrap(), "main:part of webyes");

    std::fs::write(dir.path().join("a.tpl"), r#"{{ include "b.tpl" }}"#).unwrap();
    std::fs::write(dir.path().join("b.tpl"), r#"{{ include "a.tpl" }}"#).unwrap();
    let error = Engine::default().render_url(&dir.path().join("a.tpl").display().to_string(), &json!({})).unwrap_err();
    assert!(error.to_string().contains("includes itself"), "{error}");
}

#[test]
fn an_error_names_the_template_its_line_and_its_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.tpl");
    std::fs::write(&path, "line one\nline two {{ if }}\n").unwrap();
    let error = Engine::default().render_url(&path.display().to_string(), &json!({})).unwrap_err().to_string();
    assert!(error.contains("bad.tpl") && error.contains(":2:"), "{error}");
    let missing = Engine::default().render_url("/no/such/template.tpl", &json!({})).unwrap_err().to_string();
    assert!(missing.contains("cannot read template /no/such/template.tpl"), "{missing}");
}
