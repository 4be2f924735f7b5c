//! Templates rendered as the original renders them: Go's semantics, the functions, includes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use infrakit_template::{Engine, Host};
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
    assert_eq!(render(r#"{{ dict "a" 1 | jsonEncodeIndent ">" "\t" }}"#, json!({})), "{\n>\t\"a\": 1\n>}");
    assert_eq!(
        render(r#"{{ q "items[?ok].name | [0]" . }}"#, json!({"items": [{"name": "a"}, {"name": "b", "ok": true}]})),
        "b"
    );
    assert_eq!(
        render(r#"{{ range loop 3 }}{{ . }}{{ end }} {{ range until 2 }}{{ . }}{{ end }}"#, json!({})),
        "012 01"
    );
    assert_eq!(render("{{ 0 | htmlDate }} {{ 1795930777 | htmlDate }}", json!({})), "1970-01-01 2026-11-29");
    assert_eq!(render(r#"{{ max 1 5 3 }} {{ min 4 2 }} {{ atoi "12" | add 1 }}"#, json!({})), "5 2 13");
    assert!(fails(r#"{{ q "a[" . }}"#).contains("q: "));
}

#[test]
fn custom_delimiters_leave_the_usual_braces_as_text() {
    let engine = Engine::default().with_delims("=%", "%=");
    let rendered = engine.render_url(r#"str://{{ .Name }} =% "x" | upper %=[ =%- "y" -%= ]"#, &json!({})).unwrap();
    assert_eq!(rendered, "{{ .Name }} X[y]");
}

/// A host answering from a table, counting its reads: the engine's use of a host, without a
/// network (the real one is tested through the binary).
#[derive(Default)]
struct Scripted {
    documents: BTreeMap<String, String>,
    metadata: Mutex<Vec<Option<serde_json::Value>>>,
}

impl Host for Scripted {
    fn fetch(&self, url: &str) -> Result<String, String> {
        self.documents.get(url).cloned().ok_or_else(|| format!("GET {url}: 404 Not Found"))
    }
    fn metadata(&self, _path: &str) -> Result<Option<serde_json::Value>, String> {
        let mut answers = self.metadata.lock().unwrap();
        Ok(if answers.len() > 1 { answers.remove(0) } else { answers.first().cloned().flatten() })
    }
}

#[test]
fn web_templates_include_relative_to_their_url_and_fetch_reads_raw_text() {
    let host = Scripted {
        documents: BTreeMap::from([
            ("http://pb/main.ikt".to_owned(), r#"main {{ include "parts/a.ikt" }} {{ fetch "raw.txt" }}"#.to_owned()),
            ("http://pb/parts/a.ikt".to_owned(), "{{ 1 | add 1 }}".to_owned()),
            ("http://pb/raw.txt".to_owned(), "{{ not rendered }}".to_owned()),
        ]),
        ..Scripted::default()
    };
    let engine = Engine::default().with_host(Arc::new(host));
    assert_eq!(engine.render_url("http://pb/main.ikt", &json!({})).unwrap(), "main 2 {{ not rendered }}");
    let error = engine.render_url("http://pb/none.ikt", &json!({})).unwrap_err().to_string();
    assert!(error.contains("http://pb/none.ikt") && error.contains("404"), "{error}");
    let error = Engine::default().render_url(r#"str://{{ fetch "https://x/y" }}"#, &json!({})).unwrap_err().to_string();
    assert!(error.contains("nothing here reads web documents"), "{error}");
}

#[test]
fn metadata_reads_the_manager_and_can_wait_for_a_value() {
    let host = Scripted { metadata: Mutex::new(vec![Some(json!({"Size": 3}))]), ..Scripted::default() };
    let engine = Engine::default().with_host(Arc::new(host));
    assert_eq!(engine.render_url(r#"str://{{ (metadata "specs/web").Size }}"#, &json!({})).unwrap(), "3");
    let error = engine.render_url(r#"str://{{ metadata "specs/web" 4 }}"#, &json!({})).unwrap_err().to_string();
    assert!(error.contains("read-only"), "{error}");

    let host = Scripted { metadata: Mutex::new(vec![None, None, Some(json!("ready"))]), ..Scripted::default() };
    let engine = Engine::default().with_host(Arc::new(host));
    let waited = engine.render_url(r#"str://{{ metadata "groups/web" "0s" "10s" true }}"#, &json!({})).unwrap();
    assert_eq!(waited, "ready", "asked until the value appeared");

    let host = Scripted { metadata: Mutex::new(vec![None]), ..Scripted::default() };
    let engine = Engine::default().with_host(Arc::new(host));
    let absent = engine.render_url(r#"str://{{ metadata "groups/web" "0s" "20ms" }}"#, &json!({})).unwrap();
    assert_eq!(absent, "<no value>", "nil after the timeout");
    let error =
        engine.render_url(r#"str://{{ metadata "groups/web" "0s" "20ms" true }}"#, &json!({})).unwrap_err().to_string();
    assert!(error.contains("did not appear within 20ms"), "{error}");
    let error = Engine::default().render_url(r#"str://{{ metadata "x" }}"#, &json!({})).unwrap_err().to_string();
    assert!(error.contains("no manager to ask"), "{error}");
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
