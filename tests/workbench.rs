//! End-to-end tests of the workbench through the `hedui` binary: `hedui users …` manage accounts
//! in a fresh SQLite store, and `hedui serve` answers a login over HTTP on 127.0.0.1.
//! (The permission, store and browser tests live with `hedui-store` and `hedui-web`.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

fn hedui() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hedui"))
}

fn store_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("data/store.db").display())
}

#[test]
fn users_add_list_and_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_url(&dir);
    let out = hedui()
        .args([
            "users",
            "add",
            "cw_ls",
            "--role",
            "township_caseworker",
            "--township",
            "421321101",
            "--store",
            &store,
        ])
        .env("HEDUI_NEW_PASSWORD", "secret-pass-1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("township:421321101"));

    // Password from stdin (never an argument).
    let mut child = hedui()
        .args(["users", "add", "an", "--role", "analyst", "--store", &store])
        .env_remove("HEDUI_NEW_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"secret-pass-2\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Bad input exits with 2 and says why.
    for (args, needle) in [
        (
            vec!["users", "add", "x1", "--role", "mayor"],
            "unknown role",
        ),
        (
            vec!["users", "add", "x2", "--role", "county_reviewer"],
            "--county",
        ),
        (
            vec!["users", "add", "cw_ls", "--role", "analyst"],
            "already exists",
        ),
        (
            vec![
                "users", "add", "x3", "--role", "analyst", "--county", "421303",
            ],
            "no county",
        ),
    ] {
        let out = hedui()
            .args(&args)
            .args(["--store", &store])
            .env("HEDUI_NEW_PASSWORD", "secret-pass-3")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(
            !err.contains("secret-pass"),
            "the password never appears in messages"
        );
    }
    let out = hedui()
        .args([
            "users",
            "add",
            "x4",
            "--role",
            "analyst",
            "--store",
            "mysql://nope",
        ])
        .env("HEDUI_NEW_PASSWORD", "secret-pass-4")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    let out = hedui()
        .args(["users", "list", "--store", &store])
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&out.stdout);
    assert!(list.contains("an\tanalyst\tnone\tactive"));
    assert!(list.contains("cw_ls\ttownship_caseworker\ttownship:421321101\tactive"));

    let out = hedui()
        .args(["users", "disable", "an", "--store", &store])
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = hedui()
        .args(["users", "list", "--store", &store])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("an\tanalyst\tnone\tdisabled"));
}

fn http(port: u16, req: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head.to_owned(), body.to_owned())
}

fn set_cookie(head: &str, name: &str) -> Option<String> {
    head.lines()
        .filter(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .map(|l| l["set-cookie:".len()..].trim().to_owned())
        .find(|c| c.starts_with(&format!("{name}=")))
}

struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn seed_demo_and_serve_a_login() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_url(&dir);
    let out = hedui()
        .args(["users", "seed-demo", "--store", &store])
        .env("HEDUI_NEW_PASSWORD", "demo-pass-1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    for name in [
        "admin\tcity_admin",
        "auditor\tauditor",
        "analyst\tanalyst",
        "county_421321\tcounty_reviewer",
        "township_421321101\ttownship_caseworker",
    ] {
        assert!(listed.contains(name), "{name} in {listed}");
    }
    // Seeding again keeps the users.
    let again = hedui()
        .args(["users", "seed-demo", "--store", &store])
        .env("HEDUI_NEW_PASSWORD", "demo-pass-2")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("admin\tcity_admin\tcity\texists"));

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _server = Server(
        hedui()
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--store",
                &store,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut up = false;
    for _ in 0..300 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            up = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(up, "hedui serve did not listen");
    let (status, head, body) = http(
        port,
        "GET /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 200);
    assert!(body.contains("工作台登录"));
    assert!(
        head.to_ascii_lowercase()
            .contains("content-security-policy")
    );
    let login_cookie = set_cookie(&head, "hedui_login").unwrap();
    let login_cookie = login_cookie.split(';').next().unwrap().to_owned();
    let token = login_cookie.split_once('=').unwrap().1.to_owned();
    let form = format!("csrf={token}&username=admin&password=demo-pass-1");
    let (status, head, _) = http(
        port,
        &format!(
            "POST /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: {login_cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        ),
    );
    assert_eq!(status, 303, "{head}");
    let session = set_cookie(&head, "hedui_session").expect("session cookie");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict"));
    let session = session.split(';').next().unwrap().to_owned();
    let (status, _, body) = http(
        port,
        &format!(
            "GET /queue HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: {session}\r\n\r\n"
        ),
    );
    assert_eq!(status, 200);
    assert!(body.contains("核对预警待办队列") && body.contains("共 0 条"));
}
