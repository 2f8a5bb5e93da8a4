//! `manifold config check` with every secret-bearing key set: it says the
//! configuration is valid and prints it, and no secret value appears.

use std::process::Command;

#[test]
fn config_check_prints_the_settings_without_any_secret() {
    let data = tempfile::tempdir().expect("temp dir");
    let key = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=";
    let output = Command::new(env!("CARGO_BIN_EXE_manifold"))
        .args(["config", "check"])
        .current_dir(data.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("MANIFOLD_DATA_DIR", data.path())
        .env("MANIFOLD_SECRETS__ENCRYPTION_KEY", key)
        .env("MANIFOLD_AUTH__JWT__HS256_SECRET", "jwt-hs256-s3cret")
        .env(
            "MANIFOLD_CATALOG__URL",
            "postgres://manifold:pg-pa55word@db.internal:5432/manifold",
        )
        .env(
            "MANIFOLD_STATE__URL",
            "redis://default:redis-pa55word@cache.internal:6379/0",
        )
        .output()
        .expect("manifold runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.starts_with("# configuration is valid"), "{stdout}");
    for secret in [key, "jwt-hs256-s3cret", "pg-pa55word", "redis-pa55word"] {
        assert!(!stdout.contains(secret), "stdout shows {secret}:\n{stdout}");
        assert!(!stderr.contains(secret), "stderr shows {secret}:\n{stderr}");
    }
    assert!(
        stdout.contains("postgres://manifold:***@db.internal:5432/manifold"),
        "{stdout}"
    );
    assert!(
        stdout.contains("redis://default:***@cache.internal:6379/0"),
        "{stdout}"
    );
}
