//! Templates through the binary: `infrakit template`, and specs rendered with `--var` before
//! `plan` reads them.

use std::io::Write;
use std::process::Stdio;

use crate::util::Home;

#[test]
fn the_template_command_renders_includes_and_variables() {
    let home = Home::create();
    home.write("part.tpl", r#"size {{ var "size" | default "1" }}"#);
    let main = home.write("main.tpl", r#"{{ include "part.tpl" }}, {{ list "a" "b" | join "+" }}"#);
    assert_eq!(home.ok(&["template", &main, "--var", "size=5"]), "size 5, a+b");
    assert_eq!(home.ok(&["template", "str://{{ 1 | add 2 }}"]), "3");

    let bad = home.write("bad.tpl", "fine\n{{ if }}\n");
    let out = home.run(&["template", &bad]);
    assert!(!out.status.success());
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(error.contains("bad.tpl") && error.contains(":2:"), "{error}");
    let refused = home.run(&["template", "str://x", "--var", "novalue"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("'novalue' is not NAME=VALUE"));

    let mut piped = home.command_for(&["template", "-"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    piped.stdin.take().unwrap().write_all(br#"from {{ "stdin" | upper }}"#).unwrap();
    let out = piped.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from STDIN");
}

#[test]
fn a_templated_spec_is_rendered_with_its_variables_before_it_is_read() {
    let home = Home::create();
    let spec = home.write(
        "web.yml",
        r#"ID: {{ var "name" | default "web" }}
Properties:
  Allocation: {Size: {{ var "size" }}}
  Instance: {Plugin: file}
  Flavor: {Plugin: vanilla}
"#,
    );
    let out = home.run(&["plan", &spec, "--var", "size=4", "--var", "name=api"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "a new group is a change: {text}");
    assert!(text.contains("api: a new group") && text.contains("create 4, destroy 0"), "{text}");
}
