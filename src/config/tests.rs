use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn load(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    Settings::load_from(None, env(pairs))
}

#[test]
fn with_nothing_set_it_listens_on_loopback_8080_with_sqlite_and_memory() -> anyhow::Result<()> {
    let s = load(&[])?;
    assert_eq!(s.listen_addr()?.to_string(), "127.0.0.1:8080");
    assert_eq!(s.catalog_url(), "sqlite://./data/manifold.db");
    assert_eq!(s.catalog_backend()?, CatalogBackend::Sqlite);
    assert_eq!(s.state.url, StateUrl::Memory);
    assert_eq!(s.state.ttl_seconds, 86_400);
    assert_eq!(s.upstream.connect_timeout_seconds, 30);
    assert_eq!(s.upstream.tool_fetch_timeout_seconds, 30);
    Ok(())
}

#[test]
fn environment_variables_override_nested_keys_with_double_underscores() -> anyhow::Result<()> {
    let s = load(&[
        ("MANIFOLD_LISTEN", "0.0.0.0:9000"),
        ("MANIFOLD_DATA_DIR", "/var/lib/manifold"),
        ("MANIFOLD_CATALOG__URL", "postgres://u@db/manifold"),
        ("MANIFOLD_STATE__URL", "redis://127.0.0.1:6379/2"),
        ("MANIFOLD_STATE__KEY_PREFIX", "prod:"),
        ("MANIFOLD_STATE__TTL_SECONDS", "60"),
        ("MANIFOLD_LOG__FORMAT", "json"),
    ])?;
    assert_eq!(s.listen, "0.0.0.0:9000");
    assert_eq!(s.data_dir, PathBuf::from("/var/lib/manifold"));
    assert_eq!(s.catalog_backend()?, CatalogBackend::Postgres);
    assert_eq!(s.state.url.redis(), Some("redis://127.0.0.1:6379/2"));
    assert_eq!(s.state.key_prefix, "prod:");
    assert_eq!(s.state.ttl_seconds, 60);
    assert_eq!(s.log.format, LogFormat::Json);
    Ok(())
}

#[test]
fn the_metrics_keys_come_from_the_environment_too() -> anyhow::Result<()> {
    assert!(load(&[])?.metrics.enabled);
    let s = load(&[
        ("MANIFOLD_METRICS__ENABLED", "false"),
        ("MANIFOLD_METRICS__LISTEN", "0.0.0.0:9100"),
    ])?;
    assert!(!s.metrics.enabled);
    assert_eq!(s.metrics.listen, "0.0.0.0:9100");
    Ok(())
}

#[test]
fn the_data_dir_moves_the_default_sqlite_file() -> anyhow::Result<()> {
    let s = load(&[("MANIFOLD_DATA_DIR", "/srv/m")])?;
    assert_eq!(s.catalog_url(), "sqlite:///srv/m/manifold.db");
    Ok(())
}

#[test]
fn unrelated_manifold_variables_are_not_read_as_config() -> anyhow::Result<()> {
    let s = load(&[("MANIFOLD_TEST_REDIS_URL", "redis://x")])?;
    assert_eq!(s, Settings::default());
    Ok(())
}

#[test]
fn an_invalid_value_names_its_key() {
    let cases: &[(&str, &str, &str)] = &[
        ("MANIFOLD_STATE__TTL_SECONDS", "soon", "state.ttl_seconds"),
        ("MANIFOLD_STATE__TTL_SECONDS", "0", "state.ttl_seconds"),
        ("MANIFOLD_LISTEN", "localhost", "listen"),
        ("MANIFOLD_STATE__URL", "memcached://x", "state.url"),
        ("MANIFOLD_CATALOG__URL", "mysql://x", "catalog.url"),
        ("MANIFOLD_LOG__FORMAT", "xml", "log.format"),
        ("MANIFOLD_LOG__LEVEL", "info,[", "log.level"),
        ("MANIFOLD_HTTP__MAX_BODY_BYTES", "-1", "http.max_body_bytes"),
        (
            "MANIFOLD_SECRETS__ENCRYPTION_KEY",
            "short",
            "secrets.encryption_key",
        ),
        ("MANIFOLD_CATALOG__URLL", "x", "catalog"),
        ("MANIFOLD_LIMITS__USER_BURST", "0", "limits.user_burst"),
        (
            "MANIFOLD_LIMITS__ANONYMOUS_PER_SECOND",
            "2000000",
            "limits.anonymous_per_second",
        ),
        (
            "MANIFOLD_LIMITS__ADMIN_PER_SECOND",
            "-5",
            "limits.admin_per_second",
        ),
        (
            "MANIFOLD_AUTH__JWT__JWKS_URL",
            "ftp://idp/jwks",
            "auth.jwt.jwks_url",
        ),
        (
            "MANIFOLD_AUTH__TRUSTED_PROXIES",
            "[\"10.0.0.0/99\"]",
            "auth.trusted_proxies",
        ),
        (
            "MANIFOLD_AUTH__ANONYMOUS__ENABLED",
            "maybe",
            "auth.anonymous",
        ),
        ("MANIFOLD_WORKER_THREADS", "20000", "worker_threads"),
        ("MANIFOLD_WORKER_THREADS", "-1", "worker_threads"),
    ];
    for (var, value, key) in cases {
        let err = load(&[(var, value)]).err();
        let Some(err) = err else {
            panic!("{var}={value} was accepted");
        };
        assert!(
            err.key == *key || err.key.starts_with(key),
            "{var}={value}: expected key {key}, got {err}"
        );
        assert!(!err.to_string().contains('\n'), "one line: {err}");
    }
}

#[test]
fn worker_threads_default_to_one_per_cpu_and_are_read_from_the_environment() -> anyhow::Result<()> {
    assert_eq!(load(&[])?.worker_threads, 0, "0: one per CPU");
    let s = load(&[("MANIFOLD_WORKER_THREADS", "1")])?;
    assert_eq!(s.worker_threads, 1);
    let most = MAX_WORKER_THREADS.to_string();
    assert_eq!(
        load(&[("MANIFOLD_WORKER_THREADS", &most)])?.worker_threads,
        MAX_WORKER_THREADS
    );
    Ok(())
}

#[test]
fn rate_limits_are_read_per_role_and_zero_per_second_means_unlimited() -> anyhow::Result<()> {
    let s = load(&[
        ("MANIFOLD_LIMITS__USER_PER_SECOND", "3"),
        ("MANIFOLD_LIMITS__USER_BURST", "7"),
        ("MANIFOLD_LIMITS__ADMIN_PER_SECOND", "0"),
        ("MANIFOLD_LIMITS__ADMIN_BURST", "0"),
    ])?;
    assert_eq!((s.limits.user_per_second, s.limits.user_burst), (3, 7));
    assert_eq!(s.limits.admin_per_second, 0, "unlimited needs no burst");
    assert_eq!(
        s.limits.anonymous_burst,
        LimitsSettings::default().anonymous_burst
    );
    Ok(())
}

#[test]
fn a_config_file_is_layered_under_the_environment() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("m.toml");
    std::fs::write(
        &path,
        "listen = \"127.0.0.1:7000\"\n[state]\nkey_prefix = \"file:\"\nttl_seconds = 5\n",
    )?;
    let s = Settings::load_from(Some(&path), env(&[("MANIFOLD_STATE__TTL_SECONDS", "9")]))?;
    assert_eq!(s.listen, "127.0.0.1:7000");
    assert_eq!(s.state.key_prefix, "file:");
    assert_eq!(s.state.ttl_seconds, 9);
    Ok(())
}

#[test]
fn a_typo_in_the_config_file_is_refused_with_its_key() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("m.toml");
    std::fs::write(&path, "[state]\nttl = 5\n")?;
    let err = Settings::load_from(Some(&path), Vec::new()).err();
    assert!(
        err.as_ref()
            .is_some_and(|e| e.key.starts_with("state") && e.message.contains("ttl")),
        "{err:?}"
    );
    let missing = Settings::load_from(Some(&dir.path().join("nope.toml")), Vec::new()).err();
    assert_eq!(missing.map(|e| e.key), Some("--config".to_owned()));
    Ok(())
}

/// Collects dotted key paths of every leaf in a TOML table.
fn leaf_keys(prefix: &str, table: &toml::Table, out: &mut Vec<String>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => leaf_keys(&key, t, out),
            _ => out.push(key),
        }
    }
}

#[test]
fn the_example_file_lists_every_key_with_its_default() -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config.toml.example"))?;
    let example: toml::Table = toml::from_str(&text)?;
    let defaults: toml::Table = toml::Table::try_from(Settings::default())?;
    let (mut in_example, mut in_type) = (Vec::new(), Vec::new());
    leaf_keys("", &example, &mut in_example);
    leaf_keys("", &defaults, &mut in_type);
    in_example.sort();
    in_type.sort();
    assert_eq!(
        in_example, in_type,
        "config.toml.example and Settings differ"
    );
    let parsed: Settings = toml::from_str(&text)?;
    assert_eq!(
        parsed,
        Settings::default(),
        "the example must show the defaults"
    );
    for key in &in_type {
        let leaf = key.rsplit('.').next().unwrap_or(key);
        let commented = text.lines().collect::<Vec<_>>().windows(2).any(|w| {
            w[0].trim_start().starts_with('#')
                && w[1].trim_start().starts_with(&format!("{leaf} ="))
        });
        assert!(
            commented,
            "{key} has no comment line above it in config.toml.example"
        );
    }
    Ok(())
}

#[test]
fn anonymous_sessions_are_off_by_default_and_switch_on_from_the_environment() -> anyhow::Result<()>
{
    assert!(!load(&[])?.auth.anonymous.enabled);
    let s = load(&[
        ("MANIFOLD_AUTH__ANONYMOUS__ENABLED", "true"),
        (
            "MANIFOLD_AUTH__TRUSTED_PROXIES",
            "[\"10.0.0.0/8\", \"::1\"]",
        ),
        ("MANIFOLD_AUTH__JWT__HS256_SECRET", "s3cret"),
    ])?;
    assert!(s.auth.anonymous.enabled);
    let proxies: Vec<String> = s
        .auth
        .trusted_proxies
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(proxies, ["10.0.0.0/8", "::1"]);
    assert_eq!(s.auth.jwt.roles_claim, "roles");
    assert!(
        !format!("{s:?}").contains("s3cret"),
        "the secret is redacted"
    );
    Ok(())
}

/// Every secret-bearing key set at once: none of the values may appear in
/// what `config check` prints (the settings serialized to TOML) nor in a
/// `Debug` of the settings.
#[test]
fn no_secret_reaches_config_check_or_debug() -> anyhow::Result<()> {
    let key = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="; // base64 of 32 bytes
    let s = load(&[
        ("MANIFOLD_SECRETS__ENCRYPTION_KEY", key),
        ("MANIFOLD_AUTH__JWT__HS256_SECRET", "jwt-hs256-s3cret"),
        (
            "MANIFOLD_CATALOG__URL",
            "postgres://manifold:pg-pa55word@db.internal:5432/manifold",
        ),
        (
            "MANIFOLD_STATE__URL",
            "rediss://default:redis-pa55word@cache.internal:6380/0",
        ),
    ])?;
    let printed = toml::to_string(&s)?;
    let debug = format!("{s:?} {s:#?}");
    for secret in [key, "jwt-hs256-s3cret", "pg-pa55word", "redis-pa55word"] {
        assert!(
            !printed.contains(secret),
            "config check shows {secret}:\n{printed}"
        );
        assert!(!debug.contains(secret), "Debug shows {secret}: {debug}");
    }
    // The rest stays readable, and set secrets are visibly set.
    assert!(printed.contains("db.internal:5432"), "{printed}");
    assert!(printed.contains("cache.internal:6380"), "{printed}");
    assert!(printed.contains("encryption_key = \"***\""), "{printed}");
    assert!(printed.contains("hs256_secret = \"***\""), "{printed}");
    // The values themselves are intact for the code that uses them.
    assert_eq!(s.secrets.encryption_key.expose(), key);
    assert_eq!(s.auth.jwt.hs256_secret.expose(), "jwt-hs256-s3cret");
    assert!(s.catalog_url().contains("pg-pa55word"));
    assert!(
        s.state
            .url
            .redis()
            .is_some_and(|u| u.contains("redis-pa55word"))
    );
    Ok(())
}

#[test]
fn unset_secrets_print_empty_and_a_bad_state_url_never_echoes_its_password() {
    let printed = toml::to_string(&Settings::default()).expect("serializes");
    assert!(printed.contains("encryption_key = \"\""), "{printed}");
    let err = load(&[("MANIFOLD_STATE__URL", "memcached://u:hunter2@x")]).expect_err("refused");
    assert_eq!(err.key, "state.url");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[test]
fn a_redis_cluster_is_named_by_a_cluster_url_or_a_list_of_nodes() -> anyhow::Result<()> {
    let nodes = vec!["redis://10.0.0.1:7000", "redis://10.0.0.2:7001"];
    let s = load(&[(
        "MANIFOLD_STATE__URL",
        "redis+cluster://10.0.0.1:7000,10.0.0.2:7001",
    )])?;
    assert_eq!(s.state.backend(), StateBackend::Cluster(nodes.clone()));
    assert_eq!(s.state.url.redis(), None);
    for list in [
        "10.0.0.1:7000,10.0.0.2:7001",
        r#"["10.0.0.1:7000", "redis://10.0.0.2:7001"]"#,
    ] {
        let s = load(&[("MANIFOLD_STATE__CLUSTER_NODES", list)])?;
        assert_eq!(
            s.state.backend(),
            StateBackend::Cluster(nodes.clone()),
            "{list}"
        );
    }
    assert_eq!(load(&[])?.state.backend(), StateBackend::Memory);
    Ok(())
}

#[test]
fn bad_cluster_settings_name_their_key_and_never_echo_a_password() {
    let err = load(&[("MANIFOLD_STATE__URL", "redis+cluster://u:hunter2@a:1,,b:2")])
        .expect_err("an empty node");
    assert_eq!(err.key, "state.url");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    let err = load(&[("MANIFOLD_STATE__CLUSTER_NODES", "http://a:1")]).expect_err("not redis");
    assert_eq!(err.key, "state.cluster_nodes");
    let err = load(&[
        ("MANIFOLD_STATE__URL", "redis://127.0.0.1:6379"),
        ("MANIFOLD_STATE__CLUSTER_NODES", "a:1"),
    ])
    .expect_err("both");
    assert_eq!(err.key, "state.cluster_nodes");
    let err = load(&[
        ("MANIFOLD_STATE__CLUSTER_NODES", "a:1"),
        ("MANIFOLD_STATE__KEY_PREFIX", "app{1}:"),
    ])
    .expect_err("a brace in the prefix");
    assert_eq!(err.key, "state.key_prefix");
    // Standalone Redis keeps accepting braces in the prefix.
    assert!(
        load(&[
            ("MANIFOLD_STATE__URL", "redis://127.0.0.1:6379"),
            ("MANIFOLD_STATE__KEY_PREFIX", "app{1}:"),
        ])
        .is_ok()
    );
}
