//! Start-up and config errors name what to fix, in one line: the variable
//! of a wrong-typed value, the folder that cannot be written, the
//! PostgreSQL host that refuses or does not answer (within
//! `catalog.connect_timeout_seconds`), a missing database (once); and a
//! process that cannot listen writes nothing into `data_dir`.

use std::time::{Duration, Instant};

use super::manifold;

/// Runs `manifold args` in `dir` with `env`; the exit code, stderr and how
/// long it took.
fn run(
    dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    let out = manifold(dir, args, env).output().expect("manifold runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        started.elapsed(),
    )
}

/// The lines of `stderr` that are not log lines.
fn error_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| !l.contains(" INFO ") && !l.contains(" WARN "))
        .collect()
}

#[test]
fn a_variable_of_the_wrong_type_is_named_not_a_line_of_code() {
    let dir = tempfile::tempdir().expect("dir");
    let (code, err, _) = run(
        dir.path(),
        &["config", "check"],
        &[("MANIFOLD_STATE__TTL_SECONDS", "abc")],
    );
    assert_eq!(code, Some(2));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("MANIFOLD_STATE__TTL_SECONDS=abc"), "{err}");
    assert!(
        err.contains("state.ttl_seconds") && err.contains("whole number"),
        "{err}"
    );
    assert!(!err.contains("src/"), "{err}");

    // A number where text is wanted is taken as text, then checked.
    let (code, err, _) = run(
        dir.path(),
        &["config", "check"],
        &[("MANIFOLD_LISTEN", "8080")],
    );
    assert_eq!(code, Some(2));
    assert!(err.contains("MANIFOLD_LISTEN"), "{err}");
    assert!(err.contains("host:port"), "{err}");
    assert!(
        !err.contains("unsigned int") && !err.contains("src/"),
        "{err}"
    );
    let (code, out, _) = run(
        dir.path(),
        &["config", "check"],
        &[("MANIFOLD_AUTH__OAUTH__CLIENT_NAME", "2024")],
    );
    assert_eq!(code, Some(0), "{out}");

    let (code, err, _) = run(
        dir.path(),
        &["config", "check"],
        &[("MANIFOLD_HTTP__MAX_CONECTIONS", "5")],
    );
    assert_eq!(code, Some(2));
    assert!(
        err.contains("MANIFOLD_HTTP__MAX_CONECTIONS") && err.contains("max_conections"),
        "{err}"
    );
    assert!(
        !dir.path().join("data").exists(),
        "a refused config touches nothing"
    );
}

#[test]
fn a_data_dir_that_cannot_be_created_is_named() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("plain-file"), "x").expect("file");
    let data_dir = dir.path().join("plain-file/data");
    let data_dir = data_dir.to_str().expect("utf-8 path");
    let (code, err, _) = run(
        dir.path(),
        &["serve"],
        &[
            ("MANIFOLD_LISTEN", "127.0.0.1:0"),
            ("MANIFOLD_DATA_DIR", data_dir),
        ],
    );
    assert_eq!(code, Some(2), "{err}");
    let lines = error_lines(&err);
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains(data_dir), "names the folder: {err}");
    assert!(lines[0].contains("data_dir"), "names the setting: {err}");
}

#[test]
fn a_postgres_that_refuses_is_named_with_its_host_at_once() {
    let dir = tempfile::tempdir().expect("dir");
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/manifold");
    let (code, err, took) = run(
        dir.path(),
        &["serve"],
        &[
            ("MANIFOLD_LISTEN", "127.0.0.1:0"),
            ("MANIFOLD_CATALOG__URL", &url),
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    let lines = error_lines(&err);
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(lines[0].contains("refused"), "{err}");
    assert!(!lines[0].contains("pool timed out"), "{err}");
    assert!(
        took < Duration::from_secs(5),
        "at once, not after a pool timeout: {took:?}"
    );
}

#[test]
fn a_postgres_that_does_not_answer_fails_within_the_connect_timeout() {
    let dir = tempfile::tempdir().expect("dir");
    // Accepts TCP (the kernel does) but never speaks PostgreSQL.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/manifold");
    let (code, err, took) = run(
        dir.path(),
        &["serve"],
        &[
            ("MANIFOLD_LISTEN", "127.0.0.1:0"),
            ("MANIFOLD_CATALOG__URL", &url),
            ("MANIFOLD_CATALOG__CONNECT_TIMEOUT_SECONDS", "2"),
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    let lines = error_lines(&err);
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(lines[0].contains("did not answer within 2 s"), "{err}");
    assert!(
        lines[0].contains("catalog.connect_timeout_seconds"),
        "{err}"
    );
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(6),
        "{took:?}"
    );
    drop(silent);
    // The default is 10 s.
    let out = manifold(dir.path(), &["config", "check"], &[])
        .output()
        .expect("config check");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("connect_timeout_seconds = 10"), "{text}");
}

#[test]
fn a_missing_database_is_reported_once_with_what_to_do() {
    let dir = tempfile::tempdir().expect("dir");
    let admin = crate::support::db::postgres_admin_url();
    let missing = crate::support::unique("manifold_missing_");
    let base = admin
        .rsplit_once('/')
        .map_or(admin.as_str(), |(base, _)| base);
    let url = format!("{base}/{missing}");
    let (code, err, _) = run(
        dir.path(),
        &["serve"],
        &[
            ("MANIFOLD_LISTEN", "127.0.0.1:0"),
            ("MANIFOLD_CATALOG__URL", &url),
        ],
    );
    assert_eq!(code, Some(1), "{err}");
    assert_eq!(err.matches("does not exist").count(), 1, "{err}");
    assert!(err.contains(&format!("createdb {missing}")), "{err}");
}

#[test]
fn a_process_that_cannot_listen_writes_nothing_into_the_data_dir() {
    let dir = tempfile::tempdir().expect("dir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let (code, err, _) = run(dir.path(), &["serve"], &[("MANIFOLD_LISTEN", &addr)]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
    assert!(
        !dir.path().join("data").exists(),
        "no data folder, no keys: {:?}",
        std::fs::read_dir(dir.path().join("data")).map(|d| d.count())
    );
}
