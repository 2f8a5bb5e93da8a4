//! The docs stay true: the README's tour runs as written against a fresh
//! data folder, and every relative link in `README.md`, `CONTRIBUTING.md`
//! and `docs/*.md` (with its `#anchor`) resolves.
//!
//! The tour is every ```` ```sh ```` block between `<!-- tour:begin` and
//! `<!-- tour:end -->` in the README, run in order as one bash script. A
//! `# → …` line is output the command before it must print (`…` stands for
//! anything). The script runs with `cargo` mapped to the binaries this test
//! build already has (never a release build), `PORT` / `UPSTREAM_PORT` set
//! to free ports, and the LangChain venv of `scripts/fixtures/python.sh`
//! first on `PATH`; everything it starts is killed when the test ends.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// How long the whole tour may take (a debug gateway, Python start-up).
const TOUR_LIMIT: Duration = Duration::from_secs(240);

/// What the tour script runs first: strict bash, and `cargo` as the
/// binaries the test build made. In a background job (a subshell) the
/// function execs the program, so `$!` is its pid, as with a real
/// `cargo run` (which execs too).
const PRELUDE: &str = r#"set -euo pipefail
tour_exec() {
    if [[ $BASHPID != "$$" ]]; then exec "$@"; fi
    "$@"
}
cargo() {
    case "$*" in
        "build --release") ;;
        "run --release --bin mcp-fixture -- "*) shift 5; tour_exec "$TOUR_FIXTURE" "$@" ;;
        "run --release -- "*) shift 3; tour_exec "$TOUR_MANIFOLD" "$@" ;;
        *) echo "tests/it/docs.rs does not know how to run: cargo $*" >&2; return 97 ;;
    esac
}
"#;

/// One step of the tour: shell lines, then the output they must print.
#[derive(Debug, Default)]
struct Step {
    script: String,
    expected: Vec<String>,
}

/// The tour's steps, from the README's text.
fn tour_steps(readme: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut step = Step::default();
    let mut in_tour = false;
    let mut fence: Option<bool> = None; // Some(runs) inside a fenced block
    for line in readme.lines() {
        if line.starts_with("<!-- tour:begin") {
            in_tour = true;
            continue;
        }
        if line.starts_with("<!-- tour:end") {
            break;
        }
        if !in_tour {
            continue;
        }
        if line.trim_start().starts_with("```") {
            fence = match fence {
                None => Some(line.trim() == "```sh"),
                Some(_) => None,
            };
            continue;
        }
        if fence != Some(true) {
            continue;
        }
        if let Some(expected) = line.strip_prefix("# → ") {
            step.expected.push(expected.to_owned());
            continue;
        }
        if !step.expected.is_empty() {
            steps.push(std::mem::take(&mut step));
        }
        step.script.push_str(line);
        step.script.push('\n');
    }
    if !step.script.trim().is_empty() || !step.expected.is_empty() {
        steps.push(step);
    }
    steps
}

/// The first place in `output` at or after `from` where `expected` matches,
/// `…` standing for anything; returns where the match ends.
fn find_expected(output: &str, from: usize, expected: &str) -> Option<usize> {
    let mut at = from;
    for fragment in expected.split('…').filter(|f| !f.is_empty()) {
        at += output.get(at..)?.find(fragment)? + fragment.len();
    }
    Some(at)
}

/// A free TCP port on 127.0.0.1 (the OS picks it; it is released at once).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The `py` venv's `bin` folder (mcp 1.x and LangChain), as
/// `scripts/fixtures/python.sh` installs it; panics with what to run.
fn langchain_venv_bin() -> PathBuf {
    let cache = std::env::var_os("MANIFOLD_TEST_CACHE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(ROOT).join(".cache/test"));
    let bin = cache.join("py/bin");
    assert!(
        bin.join("python3").exists(),
        "the Python test venv `py` is missing ({} does not exist): run \
         `scripts/fixtures/python.sh` (or `scripts/test`, which runs it). The tour test never skips.",
        bin.join("python3").display()
    );
    bin
}

/// The tour's bash process; its whole process group (the gateway and the
/// upstream it started in the background) is killed and reaped on drop.
struct TourProcess(Child);

impl Drop for TourProcess {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The last `n` lines of `text`.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[test]
fn the_readme_tour_runs_as_written_against_a_fresh_data_folder() {
    let readme = fs::read_to_string(Path::new(ROOT).join("README.md")).expect("README.md");
    let steps = tour_steps(&readme);
    let all: String = steps.iter().map(|s| s.script.as_str()).collect();
    for must in [
        "mcp-fixture",
        "serve",
        "initialize",
        "tools/call",
        "langchain_mcp_adapters",
    ] {
        assert!(
            all.contains(must),
            "the README tour no longer mentions `{must}`:\n{all}"
        );
    }
    assert!(
        steps.iter().filter(|s| !s.expected.is_empty()).count() >= 5,
        "the README tour should show the output of its steps (`# → …` lines)"
    );

    let mut script = String::from(PRELUDE);
    for (i, step) in steps.iter().enumerate() {
        script.push_str(&format!("printf '\\n@@tour-step {i}@@\\n'\n"));
        script.push_str(&step.script);
    }
    script.push_str("printf '\\n@@tour-end@@\\n'\n");

    let root = tempfile::tempdir().expect("a temporary folder");
    let folder = root.path().join("tour");
    fs::create_dir(&folder).expect("the tour's folder");
    let stdout_path = root.path().join("stdout");
    let stderr_path = root.path().join("stderr");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![langchain_venv_bin()];
    paths.extend(std::env::split_paths(&path));
    let mut command = Command::new("bash");
    command
        .args(["-c", &script])
        .current_dir(&folder)
        .env("PATH", std::env::join_paths(paths).expect("a PATH"))
        .env("PORT", free_port().to_string())
        .env("UPSTREAM_PORT", free_port().to_string())
        .env("TOUR_MANIFOLD", env!("CARGO_BIN_EXE_manifold"))
        .env("TOUR_FIXTURE", env!("CARGO_BIN_EXE_mcp-fixture"))
        .stdin(Stdio::null())
        .stdout(fs::File::create(&stdout_path).expect("stdout file"))
        .stderr(fs::File::create(&stderr_path).expect("stderr file"))
        .process_group(0);
    // The tour runs on embedded defaults: no setting of the test's own.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("MANIFOLD_") {
            command.env_remove(name);
        }
    }
    let mut tour = TourProcess(command.spawn().expect("bash runs"));

    let started = Instant::now();
    let status = loop {
        if let Some(status) = tour.0.try_wait().expect("wait for bash") {
            break Some(status);
        }
        if started.elapsed() > TOUR_LIMIT {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    drop(tour);
    let stdout = fs::read_to_string(&stdout_path).unwrap_or_default();
    let stderr = fs::read_to_string(&stderr_path).unwrap_or_default();

    let mut outputs: HashMap<usize, &str> = HashMap::new();
    let mut rest = stdout.as_str();
    let mut current: Option<usize> = None;
    while let Some(at) = rest.find("\n@@tour-") {
        if let Some(i) = current {
            outputs.insert(i, &rest[..at]);
        }
        let after = &rest[at + "\n@@tour-".len()..];
        let end = after.find("@@\n").unwrap_or(after.len());
        current = after[..end]
            .strip_prefix("step ")
            .and_then(|n| n.parse().ok());
        rest = after.get(end + 3..).unwrap_or("");
    }
    if let Some(i) = current {
        outputs.insert(i, rest);
    }

    for (i, step) in steps.iter().enumerate() {
        let Some(output) = outputs.get(&i) else {
            panic!(
                "the README tour never reached step {i}:\n{}\n(status {status:?} after {:?})\n\
                 --- stderr (tail) ---\n{}",
                step.script,
                started.elapsed(),
                tail(&stderr, 60)
            );
        };
        let mut at = 0;
        for expected in &step.expected {
            match find_expected(output, at, expected) {
                Some(end) => at = end,
                None => panic!(
                    "README tour step {i}:\n{}\nshould print `{expected}` (after what came before), \
                     but printed:\n{output}\n--- stderr (tail) ---\n{}",
                    step.script,
                    tail(&stderr, 60)
                ),
            }
        }
    }
    match status {
        Some(status) if status.success() && stdout.contains("\n@@tour-end@@\n") => {}
        other => panic!(
            "the README tour did not finish cleanly ({}): \n--- stdout ---\n{stdout}\n--- stderr (tail) ---\n{}",
            match other {
                Some(status) => format!("bash ended with {status}"),
                None => format!("still running after {TOUR_LIMIT:?}, killed"),
            },
            tail(&stderr, 60)
        ),
    }
}

#[test]
fn the_tour_reader_splits_steps_at_expected_output() {
    let readme = "intro\n```sh\nnot run\n```\n<!-- tour:begin -->\n```sh\na\nb\n# → one\n# → two…three\nc\n```\n\
                  ```python\nskipped\n```\n```sh\nd\n# → four\n```\n<!-- tour:end -->\n```sh\nafter\n```\n";
    let steps = tour_steps(readme);
    let shape: Vec<(&str, Vec<&str>)> = steps
        .iter()
        .map(|s| {
            (
                s.script.as_str(),
                s.expected.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            ("a\nb\n", vec!["one", "two…three"]),
            ("c\nd\n", vec!["four"])
        ]
    );
    assert_eq!(find_expected("x one two; three", 0, "two…three"), Some(16));
    assert_eq!(find_expected("three two", 0, "two…three"), None);
}

// ------------------------------------------------------------------ links --

/// The Markdown files whose links are checked.
fn markdown_files() -> Vec<PathBuf> {
    let root = Path::new(ROOT);
    let mut files = vec![root.join("README.md"), root.join("CONTRIBUTING.md")];
    let mut docs: Vec<PathBuf> = fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|e| e.expect("a docs/ entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// A line without its inline code spans (`` `…` ``, of any backtick count).
fn without_code_spans(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find('`') {
        out.push_str(&rest[..start]);
        let ticks = rest[start..].len() - rest[start..].trim_start_matches('`').len();
        let after = &rest[start + ticks..];
        let closing = "`".repeat(ticks);
        match after.find(&closing) {
            Some(end) => rest = &after[end + ticks..],
            None => {
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The prose lines of a Markdown text: fenced code blocks left out.
fn prose_lines(text: &str) -> Vec<&str> {
    let mut in_fence = false;
    text.lines()
        .filter(|line| {
            if line.trim_start().starts_with("```") {
                in_fence = !in_fence;
                return false;
            }
            !in_fence
        })
        .collect()
}

/// Link targets in a Markdown text: `[text](target)`, `![alt](target)` and
/// `[label]: target` definitions, outside code.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for line in prose_lines(text) {
        let line = without_code_spans(line);
        if let Some(definition) = line.trim_start().strip_prefix('[')
            && let Some((_, target)) = definition.split_once("]: ")
        {
            targets.push(target.trim().to_owned());
        }
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let end = after.find(')').unwrap_or(after.len());
            let target = after[..end].split_whitespace().next().unwrap_or("");
            targets.push(target.trim_matches(['<', '>']).to_owned());
            rest = &after[end..];
        }
    }
    targets
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces
/// as hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors a Markdown text's headings make (repeats get `-1`, `-2`, …).
fn anchors(text: &str) -> HashSet<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut anchors = HashSet::new();
    for line in prose_lines(text) {
        let hashes = line.len() - line.trim_start_matches('#').len();
        if !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        let base = slug(line[hashes..].trim_end_matches('#'));
        let n = seen.entry(base.clone()).or_insert(0);
        anchors.insert(if *n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        });
        *n += 1;
    }
    anchors
}

#[test]
fn every_relative_link_in_the_readme_and_docs_resolves() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in markdown_files() {
        let text = fs::read_to_string(&file).expect("a Markdown file");
        let name = file
            .strip_prefix(ROOT)
            .unwrap_or(&file)
            .display()
            .to_string();
        for target in link_targets(&text) {
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let resolved = if path.is_empty() {
                file.clone()
            } else {
                file.parent().expect("a folder").join(path)
            };
            if !resolved.exists() {
                broken.push(format!(
                    "{name}: `{target}`: {} does not exist",
                    resolved.display()
                ));
                continue;
            }
            if anchor.is_empty() || resolved.extension().is_none_or(|e| e != "md") {
                continue;
            }
            let linked = fs::read_to_string(&resolved).expect("the linked Markdown file");
            if !anchors(&linked).contains(anchor) {
                broken.push(format!("{name}: `{target}`: no heading makes #{anchor}"));
            }
        }
    }
    assert!(
        checked > 20,
        "only {checked} relative links found: is the reader broken?"
    );
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn anchors_follow_github_and_code_spans_hide_links() {
    let text = "# The `/mcp` endpoint\n## Upstream OAuth (per user)\n## The admin page's tests\n## Errors\n## Errors\n```\n# not a heading\n```\n";
    let anchors = anchors(text);
    for a in [
        "the-mcp-endpoint",
        "upstream-oauth-per-user",
        "the-admin-pages-tests",
        "errors",
        "errors-1",
    ] {
        assert!(anchors.contains(a), "{a} missing from {anchors:?}");
    }
    assert!(!anchors.contains("not-a-heading"));
    assert_eq!(
        link_targets("see [a](x.md#b) and `[c](hidden.md)` and ```` `[d](e)` ````\n[ref]: y.md\n"),
        vec!["x.md#b".to_owned(), "y.md".to_owned()]
    );
}
