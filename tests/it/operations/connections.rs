//! Connection hygiene: clients that never finish a request header are cut
//! after `http.header_read_timeout_seconds` while `/healthz` keeps
//! answering; at `http.max_connections` the probes still answer on the
//! reserve; the open-file limit is raised at start; the data folder and
//! the SQLite files are private.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{get_on_new_connection, manifold, serve, serve_command};

/// How many slow clients the slow-header test opens.
const SLOW_CLIENTS: usize = 2_000;

/// A connection that sends part of a request header and then nothing.
async fn slow_client(addr: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .expect("partial header sent");
    stream
}

/// Whether the server has closed `stream` (without waiting).
fn closed_by_server(stream: &TcpStream) -> bool {
    let mut buf = [0u8; 1];
    match stream.try_read(&mut buf) {
        Ok(_) => true,
        Err(err) => err.kind() != std::io::ErrorKind::WouldBlock,
    }
}

/// Reads until the server closes `stream`; how long after `since` it did,
/// or `None` when it answered something instead.
async fn closed_after(mut stream: TcpStream, since: Instant) -> Option<Duration> {
    let mut buf = [0u8; 256];
    match stream.read(&mut buf).await {
        Ok(0) | Err(_) => Some(since.elapsed()),
        Ok(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_slow_headers_are_closed_after_the_timeout_while_healthz_answers() {
    // The test holds 2,000 sockets itself.
    manifold::app::raise_open_file_limit();
    let dir = tempfile::tempdir().expect("dir");
    let served = serve(
        dir.path(),
        &[("MANIFOLD_HTTP__HEADER_READ_TIMEOUT_SECONDS", "2")],
    );
    let addr = served.addr.clone();
    // /healthz on a new connection every 50 ms, from now until the end.
    let done = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let prober = {
        let (addr, done, answered) = (addr.clone(), done.clone(), answered.clone());
        tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            while !done.load(Ordering::Acquire) {
                let asked = Instant::now();
                let answer = get_on_new_connection(&addr, "/healthz").await;
                let took = asked.elapsed();
                match answer {
                    // Starved behind the slow clients, it would wait for
                    // their 2 s header timeout; the ceiling stays below it
                    // with room for a busy 2-core CI machine (1 s flaked).
                    Ok(text)
                        if text.starts_with("HTTP/1.1 200")
                            && took < Duration::from_millis(1500) =>
                    {
                        answered.fetch_add(1, Ordering::AcqRel);
                        slowest = slowest.max(took);
                    }
                    other => panic!("/healthz failed or was slow ({took:?}): {other:?}"),
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            slowest
        })
    };
    let mut waiting = tokio::task::JoinSet::new();
    let opening = Instant::now();
    for _ in 0..SLOW_CLIENTS / 100 {
        let mut batch = tokio::task::JoinSet::new();
        for _ in 0..100 {
            let addr = addr.clone();
            batch.spawn(async move {
                let stream = slow_client(&addr).await;
                (stream, Instant::now())
            });
        }
        while let Some(opened) = batch.join_next().await {
            let (stream, at) = opened.expect("opened");
            waiting.spawn(closed_after(stream, at));
        }
    }
    let opened_in = opening.elapsed();
    let mut closed = Vec::with_capacity(SLOW_CLIENTS);
    let collect = async {
        while let Some(after) = waiting.join_next().await {
            closed.push(after.expect("reader").expect("closed, not answered"));
        }
    };
    tokio::time::timeout(Duration::from_secs(30), collect)
        .await
        .expect("every slow connection was closed");
    done.store(true, Ordering::Release);
    let slowest_probe = prober.await.expect("the prober never failed");
    let shortest = closed.iter().min().copied().unwrap_or_default();
    let longest = closed.iter().max().copied().unwrap_or_default();
    eprintln!(
        "{SLOW_CLIENTS} slow connections opened in {opened_in:?}, closed after {shortest:?}..{longest:?}; \
         /healthz answered {} times, slowest {slowest_probe:?}",
        answered.load(Ordering::Acquire)
    );
    assert_eq!(closed.len(), SLOW_CLIENTS);
    assert!(
        shortest >= Duration::from_millis(1_500),
        "not before the timeout: {shortest:?}"
    );
    assert!(
        longest <= Duration::from_secs(6),
        "soon after the timeout: {longest:?}"
    );
    assert!(
        answered.load(Ordering::Acquire) >= 20,
        "/healthz answered throughout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_cap_the_probes_still_answer_and_other_requests_get_503() {
    let dir = tempfile::tempdir().expect("dir");
    let served = serve(
        dir.path(),
        &[
            ("MANIFOLD_HTTP__MAX_CONNECTIONS", "20"),
            ("MANIFOLD_HTTP__HEADER_READ_TIMEOUT_SECONDS", "60"),
        ],
    );
    let key = super::Served::admin_key(dir.path());
    let api = |key: &str| {
        format!(
            "GET /api/v1/categories HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n"
        )
    };
    let raw = |addr: String, request: String| async move {
        let mut stream = TcpStream::connect(&addr).await.expect("connects");
        // A connection past the reserve may be closed before this write.
        let _ = stream.write_all(request.as_bytes()).await;
        let mut answer = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
        assert!(read.is_ok(), "the server answered or closed within 5 s");
        String::from_utf8_lossy(&answer).into_owned()
    };
    // No request before the cap is reached: a connection the server lets
    // go a moment after its client saw it close would leave a slot free
    // (the key is shown to work once the cap is gone, below).
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(slow_client(&served.addr).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for probe in ["/healthz", "/readyz"] {
        let answer = get_on_new_connection(&served.addr, probe)
            .await
            .expect("a probe at the cap");
        assert!(answer.starts_with("HTTP/1.1 200"), "{probe}: {answer}");
    }
    let busy = raw(served.addr.clone(), api(&key)).await;
    assert!(busy.starts_with("HTTP/1.1 503"), "{busy}");
    assert!(
        busy.to_ascii_lowercase().contains("retry-after: 1"),
        "{busy}"
    );
    assert!(busy.contains("\"code\":\"unavailable\""), "{busy}");
    assert!(busy.contains("http.max_connections"), "{busy}");

    // Past the reserve too, a connection is closed at once, unanswered.
    for _ in 0..manifold::app::PROBE_RESERVE {
        held.push(slow_client(&served.addr).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A connection of the steps above may have been let go only after one
    // of these came (and was refused): hold the server at its cap again.
    for _ in 0..20 {
        let mut refilled = false;
        for stream in &mut held {
            if closed_by_server(stream) {
                *stream = slow_client(&served.addr).await;
                refilled = true;
            }
        }
        if !refilled {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let refused = raw(
        served.addr.clone(),
        "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".into(),
    )
    .await;
    assert_eq!(refused, "", "closed without an answer");

    // Room again once the slow clients leave.
    drop(held);
    let mut again = String::new();
    for _ in 0..50 {
        again = raw(served.addr.clone(), api(&key)).await;
        if again.starts_with("HTTP/1.1 200") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(again.starts_with("HTTP/1.1 200"), "{again}");
    assert!(
        served.log().contains("connection cap reached"),
        "{}",
        served.log()
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_keep_alive_timeout() {
    let dir = tempfile::tempdir().expect("dir");
    let served = serve(
        dir.path(),
        &[
            ("MANIFOLD_HTTP__HEADER_READ_TIMEOUT_SECONDS", "1"),
            ("MANIFOLD_HTTP__KEEP_ALIVE_TIMEOUT_SECONDS", "3"),
        ],
    );
    let mut stream = TcpStream::connect(&served.addr).await.expect("connects");
    let request = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    let mut buf = vec![0u8; 4096];
    stream.write_all(request).await.expect("sent");
    let n = stream.read(&mut buf).await.expect("answer");
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // Idle for 2 s: longer than the header timeout, within the keep-alive one.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stream.write_all(request).await.expect("sent again");
    let n = stream.read(&mut buf).await.expect("second answer");
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "the connection was kept"
    );
    let idle = Instant::now();
    let n = tokio::time::timeout(Duration::from_secs(6), stream.read(&mut buf))
        .await
        .expect("closed within 6 s")
        .unwrap_or(0);
    assert_eq!(n, 0, "closed, not answered");
    let after = idle.elapsed();
    assert!(
        after >= Duration::from_millis(2_500) && after <= Duration::from_secs(5),
        "closed {after:?} after going idle"
    );
}

#[tokio::test]
async fn the_soft_open_file_limit_is_raised_to_the_hard_limit_at_start() {
    let dir = tempfile::tempdir().expect("dir");
    let hard = std::fs::read_to_string("/proc/self/limits")
        .expect("limits")
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(4).map(str::to_owned))
        .expect("a hard limit");
    // Started with a low soft limit, as many systems do.
    let cmd = manifold(dir.path(), &[], &[("MANIFOLD_LISTEN", "127.0.0.1:0")]);
    let program = cmd.get_program().to_owned();
    let mut shell = std::process::Command::new("sh");
    shell
        .args(["-c", "ulimit -Sn 256 && exec \"$0\" serve"])
        .arg(program)
        .current_dir(dir.path());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => shell.env(k, v),
            None => shell.env_remove(k),
        };
    }
    let served = serve_command(shell);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", served.pid())).expect("limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("open files line");
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields[3], hard, "soft = hard: {line}");
    if hard != "256" {
        assert!(
            served.log().contains("raised the open-file limit"),
            "{}",
            served.log()
        );
    }
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_folder_is_0700_and_the_catalog_files_0600() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("dir");
    let served = serve(dir.path(), &[]);
    // A write makes sure the WAL and its index exist.
    let key = super::Served::admin_key(dir.path());
    let created = reqwest::Client::new()
        .post(format!("{}/api/v1/categories", served.base))
        .bearer_auth(&key)
        .json(&serde_json::json!({"name": "Modes", "icon": "🔒", "color": "#000000"}))
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), reqwest::StatusCode::CREATED);
    let data = dir.path().join("data");
    let mode = |name: &str| {
        std::fs::metadata(data.join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(""), 0o700, "data folder");
    for file in [
        "manifold.db",
        "manifold.db-wal",
        "manifold.db-shm",
        "admin.key",
        "secret.key",
    ] {
        assert_eq!(mode(file), 0o600, "{file}");
    }
}
