//! Playbooks read and rendered as the original's: an index with nested indexes, commands that
//! define their flags, prompts that ask only for what is missing, front matter.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use infrakit_playbook::{Backend, Command, Entry, Index, ParamType, Prompter};
use infrakit_template::Engine;

/// Answers prompts from a list and records the questions; `None` plays a missing terminal.
struct Scripted {
    answers: Mutex<Vec<String>>,
    asked: Mutex<Vec<(String, String)>>,
    terminal: bool,
}

impl Scripted {
    fn new(answers: &[&str], terminal: bool) -> Arc<Self> {
        let answers = answers.iter().rev().map(|s| (*s).to_owned()).collect();
        Arc::new(Self { answers: Mutex::new(answers), asked: Mutex::default(), terminal })
    }
}

impl Prompter for Scripted {
    fn ask(&self, question: &str, default: &str) -> Option<String> {
        self.asked.lock().unwrap().push((question.to_owned(), default.to_owned()));
        self.terminal.then(|| self.answers.lock().unwrap().pop().unwrap_or_default())
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const SCALE: &str = r#"{{/* =% controllerCommit %= */}}
{{ $size := flag "size" "int" "how many servers" | prompt "How many servers?" "int" 3 }}
{{- $zones := listflag "zones" "string" "zones" "a,b" }}
{{- $debug := flag "debug" "bool" "log more" "false" }}
ID: web
Size: {{ $size }} {{ add $size 1 }}
Zones: {{ join "+" $zones }}
Debug: {{ $debug }}"#;

fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[test]
fn an_index_leads_to_commands_and_nested_indexes() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "index.ikb", "scale: scale.ikt\nops: ops/\n");
    write(dir.path(), "scale.ikt", SCALE);
    write(dir.path(), "ops/index.yml", "{{ if true }}hello: ../hello.sh{{ end }}\n");
    write(dir.path(), "hello.sh", "{{/* =% sh %= */}}echo hello");
    let engine = Engine::default();
    let index = Index::load(&engine, &dir.path().display().to_string()).unwrap();
    assert_eq!(index.entries().map(|(n, _)| n).collect::<Vec<_>>(), ["ops", "scale"]);
    let path = ["ops".to_owned(), "hello".to_owned(), "--x".to_owned()];
    let (entry, used) = index.find(&engine, &path).unwrap();
    let Entry::Command(url) = entry else { panic!("ops hello is a command") };
    assert_eq!(used, 2, "the rest are the command's arguments");
    assert_eq!(Path::new(&url), dir.path().join("hello.sh"));
    assert_eq!(Command::load(&engine, &url).unwrap().backend(), &Backend::Sh(vec![]));
    let (entry, _) = index.find(&engine, &["ops".to_owned()]).unwrap();
    assert!(matches!(entry, Entry::Index(_)));
    let error = index.find(&engine, &["nope".to_owned()]).unwrap_err().to_string();
    assert!(error.contains("no command nope") && error.contains("ops, scale"), "{error}");
}

#[test]
fn a_command_defines_its_flags_and_renders_with_them() {
    let command = Command::load(&Engine::default(), &format!("str://{SCALE}")).unwrap();
    let names: Vec<_> = command.params().iter().map(|p| (p.name.as_str(), p.kind, p.list)).collect();
    assert_eq!(
        names,
        [("size", ParamType::Int, false), ("zones", ParamType::String, true), ("debug", ParamType::Bool, false)]
    );
    assert_eq!(command.backend(), &Backend::ControllerCommit(None));

    let nobody = Scripted::new(&[], false);
    let run = command.render(&values(&[("size", "5"), ("debug", "yes")]), nobody.clone(), false).unwrap();
    assert!(run.script.contains("Size: 5 6\nZones: a+b\nDebug: true"), "{}", run.script);
    assert!(nobody.asked.lock().unwrap().is_empty(), "a flag given is not asked for");

    let error = command.render(&values(&[]), nobody.clone(), false).unwrap_err().to_string();
    assert!(error.contains("give --size") && error.contains("not a terminal"), "{error}");
    let run = command.render(&values(&[]), nobody, true).unwrap();
    assert!(run.script.contains("Size: 3 4"), "--accept-defaults takes the default offered: {}", run.script);

    let terminal = Scripted::new(&["7"], true);
    let run = command.render(&values(&[("zones", "x, y")]), terminal.clone(), false).unwrap();
    assert!(run.script.contains("Size: 7 8\nZones: x+y"), "{}", run.script);
    assert_eq!(terminal.asked.lock().unwrap().as_slice(), [("How many servers?".to_owned(), "3".to_owned())]);
    let enter = Scripted::new(&[""], true);
    let run = command.render(&values(&[]), enter, false).unwrap();
    assert!(run.script.contains("Size: 3 4"), "an empty answer takes the default: {}", run.script);

    let error = command.render(&values(&[("size", "many")]), Scripted::new(&[], false), false).unwrap_err();
    assert!(error.to_string().contains("--size: 'many' is not an int"), "{error}");
}

#[test]
fn cond_guards_a_prompt() {
    let text = r#"str://{{ $ask := flag "ask" "bool" "ask?" "false" }}{{ $n := flag "name" "string" "name" | cond $ask | prompt "Name?" "string" "anon" }}[{{ $n }}]"#;
    let command = Command::load(&Engine::default(), text).unwrap();
    let nobody = Scripted::new(&[], false);
    let run = command.render(&values(&[]), nobody.clone(), false).unwrap();
    assert_eq!(run.script, "[<no value>]", "no prompt when the condition is false");
    let terminal = Scripted::new(&["zoe"], true);
    assert_eq!(command.render(&values(&[("ask", "true")]), terminal, false).unwrap().script, "[zoe]");
    let given = command.render(&values(&[("ask", "true"), ("name", "al")]), nobody, false).unwrap();
    assert_eq!(given.script, "[al]");
}

#[test]
fn sourced_siblings_define_flags_too_and_a_broken_command_fails_where_it_breaks() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "common.ikt", r#"{{ var "region" (flag "region" "string" "the region" "eu") }}"#);
    write(
        dir.path(),
        "up.ikt",
        r#"{{ source "common.ikt" }}{{ $n := flag "n" "int" "count" 1 }}{{ var "region" }}x{{ $n }}"#,
    );
    write(dir.path(), "broken.ikt", "{{ $n := flag \"n\" \"int\" \"count\" 1 }}\nline {{ if }}");
    let engine = Engine::default();
    let up = Command::load(&engine, &dir.path().join("up.ikt").display().to_string()).unwrap();
    assert_eq!(up.params().iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["region", "n"]);
    let run = up.render(&values(&[("region", "us")]), Scripted::new(&[], false), false).unwrap();
    assert_eq!(run.script, "usx1");
    let broken = Command::load(&engine, &dir.path().join("broken.ikt").display().to_string());
    let error = broken.map(drop).unwrap_err().to_string();
    assert!(error.contains("broken.ikt") && error.contains(":2:"), "{error}");
}
