//! Remote access through the real binary: requests without the token or with a wrong one are
//! refused with 401, the CLI works with the right one, a follower forwards to the leader (over
//! TLS too), and with a certificate and key the mux speaks TLS only, to curl and to the CLI.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::Duration;

use crate::etcd_ha::{commit_on_the_leader, free_port, start_etcd};
use crate::reap::Reaped;
use crate::util::{Home, eventually, stop};

/// `OPTIONS /` with this authorization header, raw: the status line and the body.
fn options(port: u16, authorization: Option<&str>) -> (String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let header = authorization.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
    write!(stream, "OPTIONS / HTTP/1.1\r\nHost: x\r\n{header}Connection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer.lines().next().unwrap_or("").to_owned();
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

fn stack(home: &Home) -> String {
    home.write(
        "web.yml",
        "ID: web\nProperties:\n  Allocation: {Size: 1}\n  Instance: {Plugin: file}\n  Flavor: {Plugin: vanilla}\n",
    )
}

#[test]
fn the_token_is_required_and_the_cli_uses_it() {
    let home = Home::create();
    let port = free_port();
    let file = stack(&home);
    let up = home.up(&[&file, "--listen", &format!("127.0.0.1:{port}")]);
    eventually("the token is written", || home.path().join("token").exists());
    eventually("remote access listens", || TcpStream::connect(("127.0.0.1", port)).is_ok());
    let token = std::fs::read_to_string(home.path().join("token")).unwrap().trim().to_owned();
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(home.path().join("token")).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);

    for wrong in [None, Some("Bearer nope"), Some(&*format!("Basic {token}"))] {
        let (status, body) = options(port, wrong);
        assert_eq!((status.as_str(), body.as_str()), ("HTTP/1.1 401 Unauthorized", ""), "{wrong:?}");
    }
    let (status, body) = options(port, Some(&format!("Bearer {token}")));
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(body, r#"{"Leader":true,"Plugins":["file","group","vanilla"]}"#);

    let elsewhere = Home::create();
    let host = format!("http://127.0.0.1:{port}");
    eventually("the group is stored", || {
        elsewhere.run(&["--host", &host, "--token", &token, "history", "web"]).status.success()
    });
    let refused = elsewhere.run(&["--host", &host, "--token", "wrong", "history", "web"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("401"));
    let groups = elsewhere.ok(&["--host", &host, "--token", &token, "group", "ls", "-q"]);
    assert_eq!(groups, "web\n", "group commands reach the remote manager too");
    eventually("the member is listed through the mux", || {
        elsewhere.ok(&["--host", &host, "--token", &token, "instance", "file", "describe", "-q"]).lines().count() == 1
    });
    let valid = elsewhere.write("vanilla.json", "{}");
    let checked = elsewhere.ok(&["--host", &host, "--token", &token, "flavor", "vanilla", "validate", &valid]);
    assert_eq!(checked, "valid\n", "flavor commands too");
    let refused = elsewhere.run(&["--host", &host, "--token", "wrong", "group", "ls"]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("401"), "{refused:?}");
    stop(up);
}

#[test]
fn a_follower_forwards_to_the_leader() {
    forwards_to_the_leader(false);
}

#[test]
fn a_follower_forwards_to_the_leader_over_tls() {
    forwards_to_the_leader(true);
}

/// Two managers on one etcd; a commit through the follower's mux reaches the leader. With `tls`
/// both serve TLS with one certificate for 127.0.0.1, and trust it as their own.
fn forwards_to_the_leader(tls: bool) {
    let etcd = start_etcd();
    let endpoints = etcd.endpoints.join(",");
    let token = "shared-cluster-token";
    let homes: Vec<Home> = (0..2).map(|_| Home::create()).collect();
    let ports: Vec<u16> = (0..2).map(|_| free_port()).collect();
    let (cert, key) = self_signed(&homes[0]);
    let scheme = if tls { "https" } else { "http" };
    let mut managers = Vec::new();
    for (home, port) in homes.iter().zip(&ports) {
        let mut command = home.command_for(&["plugin", "start", "manager", "file", "vanilla"]);
        command
            .env("INFRAKIT_MANAGER_STORE", "etcd")
            .env("INFRAKIT_ETCD_ENDPOINTS", &endpoints)
            .env("INFRAKIT_MANAGER_LISTEN", format!("127.0.0.1:{port}"))
            .env("INFRAKIT_ADVERTISE", format!("{scheme}://127.0.0.1:{port}"))
            .env("INFRAKIT_TOKEN", token)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if tls {
            command.env("INFRAKIT_TLS_CERT", &cert).env("INFRAKIT_TLS_KEY", &key);
        }
        managers.push(Reaped(command.spawn().unwrap()));
        home.wait_for_socket("group");
    }
    let file = stack(&homes[0]);
    let follower = 1 - commit_on_the_leader(&homes, &file);
    let follower_url = format!("{scheme}://127.0.0.1:{}", ports[follower]);
    let body = match tls {
        true => curl_tls(ports[follower], &cert, Some(token)).1,
        false => options(ports[follower], Some(&format!("Bearer {token}"))).1,
    };
    assert!(body.starts_with(r#"{"Leader":true"#), "the follower answers with the leader's view: {body}");
    let outside = Home::create();
    let rolled = outside
        .command_for(&["--host", &follower_url, "--token", token, "rollback", "web", "1"])
        .env("INFRAKIT_TLS_CA", &cert)
        .output()
        .unwrap();
    assert!(rolled.status.success(), "{}", String::from_utf8_lossy(&rolled.stderr));
    let direct = homes[follower].run(&["rollback", "web", "1"]);
    assert!(String::from_utf8_lossy(&direct.stderr).contains("not a leader"), "only the forward reached the leader");
    for manager in managers {
        stop(manager);
    }
}

/// `curl` over TLS, trusting only `ca`: the HTTP status and the body.
fn curl_tls(port: u16, ca: &str, token: Option<&str>) -> (String, String) {
    let mut command = std::process::Command::new("curl");
    command.args(["-s", "-X", "OPTIONS", "--cacert", ca, "-w", "\n%{http_code}"]);
    if let Some(token) = token {
        command.args(["-H", &format!("Authorization: Bearer {token}")]);
    }
    let out = command.arg(format!("https://127.0.0.1:{port}/")).output().expect("curl is installed");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    (status.to_owned(), body.to_owned())
}

/// A self-signed certificate for 127.0.0.1 and its key, in `home`: their paths.
fn self_signed(home: &Home) -> (String, String) {
    let (cert, key) = (home.path().join("cert.pem"), home.path().join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl is installed");
    assert!(made.success());
    (cert.to_string_lossy().into_owned(), key.to_string_lossy().into_owned())
}

#[test]
fn tls_serves_only_tls_and_still_needs_the_token() {
    let home = Home::create();
    let (cert, key) = self_signed(&home);
    let port = free_port();
    let file = stack(&home);
    let listen = format!("127.0.0.1:{port}");
    let up = home.up(&[&file, "--listen", &listen, "--tls-cert", &cert, "--tls-key", &key]);
    eventually("remote access listens", || TcpStream::connect(("127.0.0.1", port)).is_ok());
    let token = std::fs::read_to_string(home.path().join("token")).unwrap().trim().to_owned();
    assert_eq!(curl_tls(port, &cert, None).0, "401");
    assert_eq!(curl_tls(port, &cert, Some("wrong")).0, "401");
    let (status, body) = curl_tls(port, &cert, Some(&token));
    assert_eq!((status.as_str(), body.as_str()), ("200", r#"{"Leader":true,"Plugins":["file","group","vanilla"]}"#));
    assert!(plain_is_refused(port), "plain HTTP gets no answer from the TLS port");

    let elsewhere = Home::create();
    let url = format!("https://127.0.0.1:{port}");
    let cli = |trust: Option<&str>, url: &str| {
        let mut command = elsewhere.command_for(&["--host", url, "--token", &token, "group", "ls", "-q"]);
        command.env_remove("INFRAKIT_TLS_CA");
        if let Some(ca) = trust {
            command.env("INFRAKIT_TLS_CA", ca);
        }
        command.output().unwrap()
    };
    eventually("the CLI lists the group over TLS", || {
        String::from_utf8_lossy(&cli(Some(&cert), &url).stdout) == "web\n"
    });
    let untrusted = cli(None, &url);
    let error = String::from_utf8_lossy(&untrusted.stderr);
    assert!(!untrusted.status.success() && error.contains("certificate"), "an unknown issuer is refused: {error}");
    let plain = cli(Some(&cert), &format!("http://127.0.0.1:{port}"));
    assert!(!plain.status.success(), "plain HTTP to the TLS port fails");
    stop(up);
}

/// Whether a plain HTTP request to the port gets no HTTP answer.
fn plain_is_refused(port: u16) -> bool {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = write!(stream, "OPTIONS / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    !answer.starts_with("HTTP/1.1 200")
}
