//! The `sync-server` binary as an admin uses it: help, provisioning, the demo org, and serving
//! until SIGTERM.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_sync-server");

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A failed command says so in one line starting with `error:` and exits non-zero.
#[track_caller]
fn assert_one_line_error(output: &Output, mentions: &str) {
    assert!(!output.status.success(), "should have failed");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr}");
    assert!(lines[0].starts_with("error:"), "{stderr}");
    assert!(
        lines[0].contains(mentions),
        "{stderr} should mention {mentions}"
    );
}

#[test]
fn help_describes_every_command() {
    let help = run(&["--help"], None);
    assert!(help.status.success());
    for command in ["serve", "demo", "admin"] {
        assert!(stdout(&help).contains(command));
    }
    let serve = run(&["serve", "--help"], None);
    for flag in [
        "--bind",
        "--database-url",
        "--allowed-origin",
        "--log-level",
        "--lock-ttl-secs",
        "--max-connections",
        "--allowed-host",
        "--demo",
    ] {
        assert!(stdout(&serve).contains(flag), "serve --help lacks {flag}");
    }
    let admin = run(&["admin", "--help"], None);
    for command in [
        "create-org",
        "create-agent",
        "list-agents",
        "revoke-tokens",
        "deactivate",
        "reactivate",
        "set-password",
    ] {
        assert!(
            stdout(&admin).contains(command),
            "admin --help lacks {command}"
        );
    }
}

#[test]
fn admin_commands_provision_an_org() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("admin.db").display());
    let with_db = |args: &[&str], stdin: Option<&str>| {
        run(&[args, &["--database-url", url.as_str()]].concat(), stdin)
    };

    let org = with_db(
        &[
            "admin",
            "create-org",
            "--name",
            "Acme Realty",
            "--timezone",
            "Asia/Kolkata",
        ],
        None,
    );
    assert!(
        org.status.success(),
        "{}",
        String::from_utf8_lossy(&org.stderr)
    );
    let org_id = stdout(&org).trim().to_owned();
    assert_eq!(org_id.len(), 36, "prints the org id: {org_id}");

    let bad_tz = with_db(
        &[
            "admin",
            "create-org",
            "--name",
            "X",
            "--timezone",
            "Mars/Olympus",
        ],
        None,
    );
    assert_one_line_error(&bad_tz, "time zone");

    let create = |email: &str, role: &str, password: &str| {
        with_db(
            &[
                "admin",
                "create-agent",
                "--org",
                &org_id,
                "--name",
                "Asha Rao",
                "--email",
                email,
                "--role",
                role,
                "--password-stdin",
            ],
            Some(password),
        )
    };
    let agent = create("Asha@Acme.test", "lead", "a long password\n");
    assert!(
        agent.status.success(),
        "{}",
        String::from_utf8_lossy(&agent.stderr)
    );
    assert_one_line_error(
        &create("asha@acme.test", "agent", "another password\n"),
        "exists",
    );
    assert_one_line_error(&create("ravi@acme.test", "agent", "short\n"), "at least 8");
    assert_one_line_error(&create("ravi@acme.test", "agent", ""), "standard input");
    assert_one_line_error(
        &create("not-an-email", "agent", "a long password\n"),
        "email",
    );
    let bad_role = create("ravi@acme.test", "boss", "a long password\n");
    assert!(!bad_role.status.success());
    assert!(String::from_utf8_lossy(&bad_role.stderr).contains("agent, lead, admin or responder"));
    let no_stdin_flag = with_db(
        &[
            "admin",
            "create-agent",
            "--org",
            &org_id,
            "--name",
            "R",
            "--email",
            "r@acme.test",
            "--role",
            "agent",
        ],
        None,
    );
    assert!(
        !no_stdin_flag.status.success(),
        "the password is never an argument"
    );

    let listed = with_db(&["admin", "list-agents", "--org", &org_id], None);
    assert!(listed.status.success());
    let listing = stdout(&listed);
    assert_eq!(listing.lines().count(), 1);
    assert!(
        listing.contains("asha@acme.test")
            && listing.contains("lead")
            && listing.contains("Asha Rao")
    );
    assert_one_line_error(
        &with_db(&["admin", "list-agents", "--org", "no-such-org"], None),
        "no org",
    );

    let revoked = with_db(
        &["admin", "revoke-tokens", "--email", "asha@acme.test"],
        None,
    );
    assert!(revoked.status.success());
    assert!(stdout(&revoked).contains("revoked 0 token(s)"));
    assert_one_line_error(
        &with_db(
            &["admin", "revoke-tokens", "--email", "nobody@acme.test"],
            None,
        ),
        "no agent",
    );

    // Off-boarding and passwords.
    let deactivated = with_db(&["admin", "deactivate", "--email", "asha@acme.test"], None);
    assert!(
        deactivated.status.success(),
        "{}",
        String::from_utf8_lossy(&deactivated.stderr)
    );
    assert!(stdout(&deactivated).contains("deactivated Asha Rao"));
    let listing = stdout(&with_db(&["admin", "list-agents", "--org", &org_id], None));
    assert!(
        !listing.contains("Asha Rao"),
        "only active agents are listed"
    );
    let reactivated = with_db(&["admin", "reactivate", "--email", "asha@acme.test"], None);
    assert!(stdout(&reactivated).contains("reactivated Asha Rao"));
    let listing = stdout(&with_db(&["admin", "list-agents", "--org", &org_id], None));
    assert!(listing.contains("Asha Rao"), "listed again: {listing}");
    let set_password = |stdin: &str| {
        with_db(
            &[
                "admin",
                "set-password",
                "--email",
                "asha@acme.test",
                "--password-stdin",
            ],
            Some(stdin),
        )
    };
    let reset = set_password("another long password\n");
    assert!(
        reset.status.success(),
        "{}",
        String::from_utf8_lossy(&reset.stderr)
    );
    assert_one_line_error(&set_password("short\n"), "at least 8");
    // A password no login could send (the API refuses such text) is refused here too.
    assert_one_line_error(&set_password("long enough \u{202e}drowssap\n"), "U+202E");
    assert_one_line_error(
        &run(
            &[
                "admin",
                "list-agents",
                "--org",
                "x",
                "--database-url",
                "mysql://db",
            ],
            None,
        ),
        "DATABASE_URL",
    );
}

#[test]
fn the_readme_routing_example_applies_to_the_demo_org_and_shows_back() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("routing.db").display());
    let demo = stdout(&run(&["demo", "--database-url", &url], None));
    let org = demo
        .split("(id ")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap()
        .to_owned();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/routing.json");
    let applied = run(
        &[
            "admin",
            "routing",
            "apply",
            "--org",
            &org,
            "--file",
            example,
            "--database-url",
            &url,
        ],
        None,
    );
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let shown: serde_json::Value = serde_json::from_str(&stdout(&applied)).unwrap();
    let mut wanted: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(example).unwrap()).unwrap();
    // Shown with what the document left to its default.
    for rule in wanted["rules"].as_array_mut().unwrap() {
        rule["enabled"] = true.into();
    }
    let names = |doc: &serde_json::Value, list: &str| -> Vec<String> {
        doc[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&shown, "rules"), names(&wanted, "rules"), "in order");
    assert_eq!(shown["rules"], wanted["rules"], "as written, names kept");
    assert_eq!(
        shown["profiles"]["ravi@demo.baton"]["skills"],
        serde_json::json!(["hindi"])
    );
    assert_eq!(
        shown["teams"].as_array().unwrap().len(),
        3,
        "{}",
        shown["teams"]
    );
    // Applying it again changes nothing.
    let again = run(
        &[
            "admin",
            "routing",
            "apply",
            "--org",
            &org,
            "--file",
            example,
            "--database-url",
            &url,
        ],
        None,
    );
    assert_eq!(stdout(&again), stdout(&applied));

    // A mistake anywhere is one line naming the place, and nothing is written.
    let mut broken = wanted.clone();
    broken["teams"][0]["members"][0] = "ravi@demo.baton".into();
    broken["rules"][2]["target"]["team"] = "Night shift".into();
    broken["rules"][0]["name"] = "Renamed".into();
    let refused = run(
        &[
            "admin",
            "routing",
            "apply",
            "--org",
            &org,
            "--database-url",
            &url,
        ],
        Some(&broken.to_string()),
    );
    assert_one_line_error(&refused, "rules[2].target.team");
    let unchanged = run(
        &[
            "admin",
            "routing",
            "show",
            "--org",
            &org,
            "--database-url",
            &url,
        ],
        None,
    );
    assert_eq!(stdout(&unchanged), stdout(&applied));
    let bad_time = wanted["business_hours"].clone();
    let mut late = serde_json::json!({"business_hours": bad_time});
    late["business_hours"]["shifts"][0]["end"] = "25:00".into();
    assert_one_line_error(
        &run(
            &[
                "admin",
                "routing",
                "apply",
                "--org",
                &org,
                "--database-url",
                &url,
            ],
            Some(&late.to_string()),
        ),
        "shifts[0].end",
    );
    assert_one_line_error(
        &run(
            &[
                "admin",
                "routing",
                "show",
                "--org",
                "nope",
                "--database-url",
                &url,
            ],
            None,
        ),
        "no such org",
    );
}

#[test]
fn demo_seeds_once_and_prints_logins() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("demo.db").display());
    let first = run(&["demo", "--database-url", &url], None);
    assert!(first.status.success());
    let first = stdout(&first);
    assert!(first.starts_with("Created the demo org"), "{first}");
    for login in [
        "asha@demo.baton",
        "ravi@demo.baton",
        "meera@demo.baton",
        "seat@demo.baton",
        "baton-demo",
    ] {
        assert!(first.contains(login), "{first}");
    }
    let again = stdout(&run(&["demo", "--database-url", &url], None));
    assert!(again.starts_with("Using the demo org"), "{again}");
    let org_id = |text: &str| {
        text.split("(id ")
            .nth(1)
            .unwrap()
            .split(')')
            .next()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        org_id(&first),
        org_id(&again),
        "seeding twice keeps one demo org"
    );
}

#[tokio::test]
async fn serve_runs_the_demo_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("serve.db").display());
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--demo",
            "--bind",
            "127.0.0.1:0",
            "--database-url",
            &url,
            "--log-level",
            "warn",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines_tx, lines_rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let address = loop {
        let line = lines_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the server never said where it listens");
        if let Some(addr) = line.strip_prefix("Baton sync server listening on ") {
            break addr.to_owned();
        }
    };

    let http = reqwest::Client::new();
    let health = http.get(format!("{address}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let login = http
        .post(format!("{address}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "ravi@demo.baton", "password": "baton-demo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        login.status(),
        200,
        "the demo login printed by the server works"
    );
    let preflight = http
        .request(reqwest::Method::OPTIONS, format!("{address}/api/v1/me"))
        .header(
            "origin",
            "chrome-extension://jgbjgnfajdikapkdoohjnaobmijkgmmj",
        )
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "chrome-extension://jgbjgnfajdikapkdoohjnaobmijkgmmj",
        "the extension may call the API cross-origin"
    );
    let foreign = http
        .request(reqwest::Method::OPTIONS, format!("{address}/api/v1/me"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(foreign
        .headers()
        .get("access-control-allow-origin")
        .is_none());

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "SIGTERM is a clean shutdown, got {exit:?}");
}

#[test]
fn serve_refuses_bad_configuration_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("x.db").display());
    assert_one_line_error(
        &run(
            &[
                "serve",
                "--database-url",
                &url,
                "--allowed-origin",
                "https://x.test/path",
            ],
            None,
        ),
        "not an origin",
    );
    assert_one_line_error(
        &run(&["serve", "--database-url", "sqlite::memory:"], None),
        "in-memory",
    );
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().unwrap().to_string();
    assert_one_line_error(
        &run(&["serve", "--database-url", &url, "--bind", &taken], None),
        "cannot listen",
    );
}

/// `--log-format json` writes one JSON object per line; `--metrics-bind` serves Prometheus metrics
/// on its own address (and the API's address has no `/metrics`).
#[tokio::test]
async fn serve_logs_json_and_serves_metrics_apart_from_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("metrics.db").display());
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics_bind = format!("127.0.0.1:{metrics_port}");
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--demo",
            "--bind",
            "127.0.0.1:0",
            "--database-url",
            &url,
        ])
        .args(["--log-level", "info", "--log-format", "json"])
        .args(["--metrics-bind", &metrics_bind])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines_tx, lines_rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let address = loop {
        let line = lines_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the server never said where it listens");
        if let Some(addr) = line.strip_prefix("Baton sync server listening on ") {
            break addr.to_owned();
        }
    };
    let http = reqwest::Client::new();
    let login: serde_json::Value = http
        .post(format!("{address}/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "ravi@demo.baton", "password": "baton-demo"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap();
    let chat = "919812345678@c.us";
    let opened = http
        .put(format!("{address}/api/v1/conversations/{chat}"))
        .bearer_auth(token)
        .json(&serde_json::json!({"title": "Priya"}))
        .send()
        .await
        .unwrap();
    assert!(opened.status().is_success());
    let locked = http
        .post(format!("{address}/api/v1/conversations/{chat}/lock"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(locked.status(), 200);

    let metrics = http
        .get(format!("http://{metrics_bind}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for expected in [
        "baton_http_requests_total{route=\"/api/v1/auth/login\",method=\"POST\",status=\"200\"} 1",
        "baton_http_requests_total{route=\"/api/v1/conversations/{chat_id}/lock\",method=\"POST\",status=\"200\"} 1",
        "baton_lock_grants_total 1",
        "baton_lock_refusals_total 0",
        "baton_websocket_connections 0",
        "baton_http_request_duration_seconds_count{route=\"/api/v1/conversations/{chat_id}/lock\"} 1",
        // Present; its value depends on when sqlx puts the connection back, so not asserted.
        "baton_db_pool_connections{pool=\"write\",state=\"in_use\"} ",
    ] {
        assert!(metrics.contains(expected), "{expected} missing from:\n{metrics}");
    }
    assert!(!metrics.contains(chat), "chat ids never become labels");
    let on_api = http.get(format!("{address}/metrics")).send().await.unwrap();
    assert_eq!(on_api.status(), 404, "no metrics on the API's address");

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let logs = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "Baton sync server listening" && l["level"] == "INFO"),
        "{logs}"
    );
    assert!(
        !logs.contains("baton-demo"),
        "passwords never reach the logs"
    );
}
