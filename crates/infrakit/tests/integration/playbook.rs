//! Playbooks and templates through the binary: the example playbook brings the quickstart up,
//! scales it, rolls it and brings it down; commands nest, print and provision; a template is read
//! over HTTP from a real server.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Output, Stdio};

use serde_json::Value;

use crate::reap::Reaped;
use crate::util::{Home, eventually};

/// Runs the binary in `home` with stdin closed (not a terminal), the controller polling fast.
fn run(home: &Home, args: &[&str]) -> Output {
    home.command_for(args).env("INFRAKIT_GROUP_POLL_INTERVAL", "1s").stdin(Stdio::null()).output().unwrap()
}

fn ok(home: &Home, args: &[&str]) -> String {
    let out = run(home, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "infrakit {args:?} failed: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

fn members(home: &Home) -> Vec<Value> {
    let out = home.run(&["group", "describe", "web", "-o", "json"]);
    let description: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    description["Instances"].as_array().cloned().unwrap_or_default()
}

/// Every member has this message, and there are `size` of them, all healthy.
fn settled(home: &Home, size: usize, message: &str) -> bool {
    let members = members(home);
    let out = home.run(&["group", "describe", "web", "-o", "json"]);
    let description: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    members.len() == size
        && members.iter().all(|m| m["Tags"]["message"] == message)
        && description["Status"]["Counts"]["Healthy"] == size
        && description["Status"]["Counts"]["Desired"] == size
}

/// Stops whatever `quickstart up` started, even when the test fails half way.
struct StopAll<'a>(&'a Home);

impl Drop for StopAll<'_> {
    fn drop(&mut self) {
        let _ = self.0.run(&["plugin", "stop", "--all"]);
    }
}

#[test]
fn the_example_playbook_brings_the_quickstart_up_scales_rolls_and_brings_it_down() {
    let home = Home::create();
    let _stop = StopAll(&home);
    let playbook = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/playbook");
    let added = ok(&home, &["playbook", "add", "quickstart", &playbook.display().to_string()]);
    assert!(added.contains("4 commands"), "{added}");
    let listing = ok(&home, &["quickstart"]);
    for command in ["up", "scale", "roll", "down"] {
        assert!(listing.contains(command), "{listing}");
    }
    let help = ok(&home, &["quickstart", "scale", "--help"]);
    assert!(help.contains("--size <INT>") && help.contains("how many web servers"), "{help}");

    ok(&home, &["quickstart", "up", "--size", "2"]);
    eventually("two servers saying hello", || settled(&home, 2, "hello"));

    let asked = run(&home, &["quickstart", "scale"]);
    let error = String::from_utf8_lossy(&asked.stderr);
    assert!(!asked.status.success() && error.contains("give --size"), "{error}");

    let scaled = ok(&home, &["quickstart", "scale", "--size", "4"]);
    assert!(scaled.contains("Committed web"), "{scaled}");
    eventually("four servers, still saying hello", || settled(&home, 4, "hello"));

    ok(&home, &["quickstart", "roll", "--message", "bonjour"]);
    eventually("four servers saying bonjour (the size read back from the manager)", || settled(&home, 4, "bonjour"));

    ok(&home, &["quickstart", "scale", "--size", "1"]);
    eventually("one server, still saying bonjour", || settled(&home, 1, "bonjour"));

    ok(&home, &["quickstart", "down"]);
    let gone = home.run(&["group", "ls"]);
    assert!(!gone.status.success(), "the manager stopped with the group destroyed");
    ok(&home, &["playbook", "rm", "quickstart"]);
    assert_eq!(ok(&home, &["playbook", "ls"]), "");
}

#[test]
fn commands_nest_print_and_provision_and_bad_playbooks_are_refused() {
    let home = Home::create();
    std::fs::create_dir_all(home.path().join("pb/tools")).unwrap();
    home.write("pb/index.yml", "tools: tools/index.yml\nmake: make.yml\n");
    home.write("pb/tools/index.yml", "hello: ../hello.ikt\n");
    home.write(
        "pb/hello.ikt",
        r#"{{ var "greeting" | default "hello" }} {{ flag "name" "string" "who" "world" }}{{ if flag "loud" "bool" "shout" }}!{{ end }}"#,
    );
    home.write(
        "pb/make.yml",
        "{{/* =% instanceProvision \"file\" %= */}}\nTags: {note: {{ flag \"note\" \"string\" \"a note\" | quote }}}\n",
    );
    let index = home.path().join("pb/index.yml").display().to_string();
    ok(&home, &["playbook", "add", "pb", &index]);

    assert_eq!(ok(&home, &["pb", "tools", "hello"]), "hello world");
    assert_eq!(ok(&home, &["use", "pb", "tools", "hello", "--name", "zoe", "--loud"]), "hello zoe!");
    assert_eq!(ok(&home, &["pb", "tools", "hello", "--var", "greeting=hi"]), "hi world");
    let unknown_flag = run(&home, &["pb", "tools", "hello", "--nope"]);
    assert_eq!(unknown_flag.status.code(), Some(2), "a flag the command does not define is a usage error");

    let _file = Reaped(home.start(&["file"]));
    home.wait_for_socket("file");
    let id = ok(&home, &["pb", "make", "--note", "from a playbook"]);
    let files = home.instance_files();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].contains(id.trim()), "{files:?} has {id}");
    let printed = ok(&home, &["pb", "make", "--note", "x", "--print-only"]);
    assert!(printed.contains(r#"Tags: {note: "x"}"#), "{printed}");
    assert_eq!(home.instance_files().len(), 1, "--print-only runs nothing");

    for (args, expected) in [
        (vec!["playbook", "add", "group", &index], "is a command of infrakit"),
        (vec!["playbook", "add", "pb", &index], "exists"),
        (vec!["playbook", "add", "other", "/no/such/index.yml"], "cannot read template"),
        (vec!["nosuch", "up"], "neither a command nor a playbook"),
        (vec!["pb", "tools", "bye"], "no command bye"),
    ] {
        let out = run(&home, &args);
        let error = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && error.contains(expected), "{args:?}: {error}");
    }
    assert_eq!(ok(&home, &["playbook", "ls"]).lines().count(), 1, "nothing refused was recorded");
}

/// Serves `documents` by path over HTTP/1.1 on a real socket, one connection per request.
fn serve(documents: Vec<(&'static str, &'static str)>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut request = [0u8; 4096];
            let n = stream.read(&mut request).unwrap_or(0);
            let request = String::from_utf8_lossy(&request[..n]);
            let path = request.split_whitespace().nth(1).unwrap_or("/");
            let response = match documents.iter().find(|(p, _)| *p == path) {
                Some((_, body)) => format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len()),
                None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_owned(),
            };
            let _ = stream.write_all(response.as_bytes());
        }
    });
    format!("http://{address}")
}

#[test]
fn templates_are_read_over_http_relative_to_their_url() {
    let home = Home::create();
    let base = serve(vec![
        ("/pb/main.ikt", r#"main {{ include "parts/part.ikt" }} {{ fetch "../raw.txt" }}"#),
        ("/pb/parts/part.ikt", r#"{{ var "x" | default "part" }}"#),
        ("/raw.txt", "{{ raw }}"),
    ]);
    let rendered = ok(&home, &["template", &format!("{base}/pb/main.ikt"), "--var", "x=given"]);
    assert_eq!(rendered, "main given {{ raw }}");
    let missing = run(&home, &["template", &format!("{base}/pb/none.ikt")]);
    let error = String::from_utf8_lossy(&missing.stderr);
    assert!(error.contains("none.ikt") && error.contains("404"), "{error}");
}

#[test]
fn a_prompt_asks_on_a_terminal_and_an_empty_answer_takes_the_default() {
    let home = Home::create();
    home.write("pb.yml", "ask: ask.ikt\n");
    home.write("ask.ikt", r#"{{ $n := flag "name" "string" "who" | prompt "Who?" "string" "world" }}hello {{ $n }}"#);
    ok(&home, &["playbook", "add", "pb", &home.path().join("pb.yml").display().to_string()]);
    // `script` runs the command on a pseudo-terminal fed from its own stdin.
    let on_a_terminal = |answer: &str| {
        let command = format!("{} pb ask", env!("CARGO_BIN_EXE_infrakit"));
        let mut child = std::process::Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .env("INFRAKIT_HOME", home.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("util-linux's script runs the command on a terminal");
        child.stdin.take().unwrap().write_all(answer.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let asked = on_a_terminal("zoe\n");
    assert!(asked.contains("Who? [world]:") && asked.contains("hello zoe"), "{asked}");
    assert!(on_a_terminal("\n").contains("hello world"), "an empty answer takes the default");
}
