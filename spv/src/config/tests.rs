//! Unit tests of [`Config`](super::Config).
use super::*;
use crate::ErrorKind;

fn env(pairs: &[(&str, &str)]) -> Result<Config> {
    Config::from_env_map(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
}

#[test]
fn defaults_match_the_issue() {
    let c = Config::default();
    assert_eq!(c.bind_addr.to_string(), "0.0.0.0:3000");
    assert_eq!(c.data_dir, PathBuf::from("./spv-data"));
    assert_eq!(c.jwt_issuer, "spv");
    assert_eq!(c.api_key_header, "x-api-key");
    assert_eq!(c.max_thumbnail_size, 4096);
    assert!(c.job_workers >= 1);
    assert!(c.cors_origins.is_empty());
    assert!(c.prometheus_enabled);
    assert_eq!(c.admin_user, "admin");
    assert_eq!(c.log_format, LogFormat::Text);
    assert_eq!(c.validate().map_err(|e| e.to_string()), Ok(()));
}

#[test]
fn every_variable_is_read() {
    let c = env(&[
        ("SPV_BIND_ADDR", "127.0.0.1:8080"),
        ("SPV_DATA_DIR", "/var/lib/spv"),
        ("DATABASE_URL", "postgres://db/spv"),
        ("REDIS_URL", "redis://cache"),
        ("JWT_SECRET", "s3cret"),
        ("JWT_ISSUER", "me"),
        ("API_KEY_HEADER", "X-Key"),
        ("RUST_LOG", "debug"),
        ("SPV_LOG_FORMAT", "JSON"),
        ("SPV_MAX_THUMBNAIL_SIZE", "800"),
        ("SPV_JOB_WORKERS", "3"),
        ("SPV_CORS_ORIGINS", "https://a.example,,https://b.example "),
        ("SPV_PROMETHEUS_ENABLED", "off"),
        ("SPV_TLS_CERT", "c.pem"),
        ("SPV_TLS_KEY", "k.pem"),
        ("SPV_ADMIN_USER", "root"),
        ("SPV_ADMIN_PASSWORD", "pw"),
        ("SPV_REQUEST_TIMEOUT_SECS", "5"),
        ("SPV_BODY_LIMIT_BYTES", "1000"),
        ("SPV_SHUTDOWN_TIMEOUT_SECS", "2"),
        ("HOME", "/root"),
    ])
    .unwrap();
    assert_eq!(c.bind_addr.to_string(), "127.0.0.1:8080");
    assert_eq!(c.effective_database_url(), "postgres://db/spv");
    assert_eq!(c.redis_url.as_deref(), Some("redis://cache"));
    assert_eq!(c.jwt_secret.as_deref(), Some("s3cret"));
    assert_eq!(
        (c.jwt_issuer.as_str(), c.api_key_header.as_str()),
        ("me", "x-key")
    );
    assert_eq!(
        (c.rust_log.as_str(), c.log_format),
        ("debug", LogFormat::Json)
    );
    assert_eq!((c.max_thumbnail_size, c.job_workers), (800, 3));
    assert_eq!(c.cors_origins, ["https://a.example", "https://b.example"]);
    assert!(!c.prometheus_enabled);
    assert_eq!(c.tls_key, Some(PathBuf::from("k.pem")));
    assert_eq!(
        (c.admin_user.as_str(), c.admin_password.as_deref()),
        ("root", Some("pw"))
    );
    assert_eq!(
        (
            c.request_timeout_secs,
            c.body_limit_bytes,
            c.shutdown_timeout_secs
        ),
        (5, 1000, 2)
    );
}

#[test]
fn a_bad_value_names_the_variable_and_what_was_expected() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "SPV_BIND_ADDR",
            "nowhere",
            "SPV_BIND_ADDR: \"nowhere\" is not valid; expected host:port",
        ),
        (
            "SPV_MAX_THUMBNAIL_SIZE",
            "-1",
            "SPV_MAX_THUMBNAIL_SIZE: \"-1\" is not valid",
        ),
        (
            "SPV_MAX_THUMBNAIL_SIZE",
            "0",
            "SPV_MAX_THUMBNAIL_SIZE: \"0\" is not valid",
        ),
        (
            "SPV_PROMETHEUS_ENABLED",
            "maybe",
            "SPV_PROMETHEUS_ENABLED: \"maybe\" is not valid; expected true or false",
        ),
        (
            "SPV_LOG_FORMAT",
            "xml",
            "SPV_LOG_FORMAT: \"xml\" is not valid; expected text or json",
        ),
        (
            "API_KEY_HEADER",
            "x key",
            "API_KEY_HEADER: \"x key\" is not valid",
        ),
        (
            "DATABASE_URL",
            "mysql://x",
            "DATABASE_URL: \"<set>\" is not valid",
        ),
        (
            "SPV_TLS_CERT",
            "c.pem",
            "SPV_TLS_CERT and SPV_TLS_KEY: only one is set",
        ),
    ];
    for (name, value, expected) in cases {
        let err = env(&[(name, value)]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
        assert!(
            err.to_string().starts_with(expected),
            "{name}={value}: got {err}"
        );
    }
}

#[test]
fn toml_then_env_then_validation() {
    let file = "bind_addr = \"127.0.0.1:9000\"\nmax_thumbnail_size = 100\ncors_origins = [\"https://x.example\"]\nlog_format = \"json\"\n";
    let c = Config::from_toml_str(file).unwrap();
    assert_eq!(c.bind_addr.port(), 9000);
    assert_eq!(c.cors_origins, ["https://x.example"]);
    assert_eq!(c.log_format, LogFormat::Json);
    let c = c
        .merge_env([("SPV_MAX_THUMBNAIL_SIZE".to_string(), "200".to_string())])
        .unwrap();
    assert_eq!((c.bind_addr.port(), c.max_thumbnail_size), (9000, 200));

    let err = Config::from_toml_str("max_thumbnail_size = \"big\"").unwrap_err();
    assert!(err.to_string().contains("max_thumbnail_size"), "{err}");
    let err = Config::from_toml_str("job_workers = 0").unwrap_err();
    assert!(err.to_string().starts_with("SPV_JOB_WORKERS"), "{err}");
}

#[test]
fn debug_redacts_secrets() {
    let c = env(&[
        ("JWT_SECRET", "topsecret"),
        ("SPV_ADMIN_PASSWORD", "hunter2"),
        (
            "SPV_URL_SIGNING_KEYS",
            &format!("{},{}", "5a".repeat(32), "QUJD".repeat(11)),
        ),
    ])
    .unwrap();
    let shown = format!("{c:?}");
    assert!(
        !shown.contains("topsecret") && !shown.contains("hunter2") && !shown.contains("5a5a"),
        "{shown}"
    );
    assert!(shown.contains("<redacted>"));
    assert!(shown.contains("SigningKeys(2 keys)"), "{shown}");
}

#[test]
fn url_signing_keys_are_checked_without_showing_them() {
    let short = env(&[("SPV_URL_SIGNING_KEYS", "deadbeef")]).unwrap_err();
    assert!(
        short
            .to_string()
            .starts_with("SPV_URL_SIGNING_KEYS: key 1 of 1 has 4 bytes"),
        "{short}"
    );
    assert!(!short.to_string().contains("deadbeef"));
    let toml = format!("url_signing_keys = \"{}\"\n", "ab".repeat(32));
    let c = Config::from_toml_str(&toml).unwrap();
    assert_eq!(c.url_signing_keys.len(), 1);
}

#[test]
fn blob_url_and_aws_variables_are_read_checked_and_redacted() {
    use crate::store::BlobUrl;
    let c = Config::default();
    assert_eq!(
        c.blob_location().unwrap(),
        BlobUrl::Dir("./spv-data/blobs".into())
    );
    let c = env(&[
        ("SPV_BLOB_URL", "s3://media/spv"),
        ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI"),
        ("AWS_REGION", "eu-west-1"),
        ("AWS_PROFILE", ""),
    ])
    .unwrap();
    assert_eq!(
        c.blob_location().unwrap(),
        BlobUrl::S3 {
            bucket: "media".into(),
            prefix: "spv".into()
        }
    );
    assert_eq!(
        c.aws.get("AWS_REGION").map(String::as_str),
        Some("eu-west-1")
    );
    assert!(
        !c.aws.contains_key("AWS_PROFILE"),
        "an empty variable is unset"
    );
    let shown = format!("{c:?}");
    assert!(!shown.contains("wJalrXUtnFEMI"), "{shown}");
    assert!(shown.contains("AWS_SECRET_ACCESS_KEY"), "{shown}");
    let err = c.open_blobs().unwrap_err();
    assert!(
        err.to_string().starts_with("SPV_BLOB_URL: ") && err.to_string().contains("AccessKeyId"),
        "a secret without its key id: {err}"
    );
    let mut c = c;
    c.aws
        .insert("AWS_ACCESS_KEY_ID".into(), "AKIDEXAMPLE".into());
    c.open_blobs().unwrap();
    let c = env(&[("SPV_BLOB_URL", "/srv/blobs")]).unwrap();
    assert_eq!(
        c.blob_location().unwrap(),
        BlobUrl::Dir("/srv/blobs".into())
    );
    for bad in [
        "s3://",
        "s3://Bad_Bucket/x",
        "gs://media",
        "s3://media/../x",
    ] {
        let err = env(&[("SPV_BLOB_URL", bad)]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
        assert!(err.to_string().starts_with("SPV_BLOB_URL: "), "{err}");
    }
    let toml =
        Config::from_toml_str("blob_url = \"s3://media\"\n[aws]\nAWS_REGION = \"us-east-1\"\n")
            .unwrap();
    assert_eq!(
        toml.aws.get("AWS_REGION").map(String::as_str),
        Some("us-east-1")
    );
    let err = Config::from_toml_str("[aws]\nregion = \"us-east-1\"\n").unwrap_err();
    assert!(err.to_string().contains("aws.region"), "{err}");
}

#[test]
fn thumbnail_cache_bytes_defaults_to_256_mib_and_names_itself_when_bad() {
    assert_eq!(Config::default().thumbnail_cache_bytes, 256 * 1024 * 1024);
    let c = env(&[("SPV_THUMBNAIL_CACHE_BYTES", "0")]).unwrap();
    assert_eq!(c.thumbnail_cache_bytes, 0, "0 turns the cache off");
    let err = env(&[("SPV_THUMBNAIL_CACHE_BYTES", "lots")]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert!(
        err.to_string()
            .starts_with("SPV_THUMBNAIL_CACHE_BYTES: \"lots\""),
        "{err}"
    );
}

#[test]
fn thumbnail_store_bytes_defaults_to_1_gib_and_names_itself_when_bad() {
    assert_eq!(Config::default().thumbnail_store_bytes, 1024 * 1024 * 1024);
    let c = env(&[("SPV_THUMBNAIL_STORE_BYTES", "0")]).unwrap();
    assert_eq!(c.thumbnail_store_bytes, 0, "0 turns the stored level off");
    let c = env(&[("SPV_THUMBNAIL_STORE_BYTES", "5000")]).unwrap();
    assert_eq!(c.thumbnail_store_bytes, 5000);
    let err = env(&[("SPV_THUMBNAIL_STORE_BYTES", "-1")]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert!(
        err.to_string()
            .starts_with("SPV_THUMBNAIL_STORE_BYTES: \"-1\""),
        "{err}"
    );
}

#[test]
fn job_settings_default_read_and_name_themselves_when_bad() {
    let c = Config::default();
    assert_eq!(
        (
            c.job_lease_secs,
            c.job_output_ttl_secs,
            c.prune_interval_secs,
            c.backup_interval_secs,
            c.backup_keep
        ),
        (30, 7 * 24 * 3600, 3600, 86400, 7)
    );
    let c = env(&[
        ("SPV_JOB_LEASE_SECS", "5"),
        ("SPV_JOB_OUTPUT_TTL_SECS", "60"),
        ("SPV_PRUNE_INTERVAL_SECS", "0"),
        ("SPV_BACKUP_INTERVAL_SECS", "0"),
        ("SPV_BACKUP_KEEP", "2"),
    ])
    .unwrap();
    assert_eq!(
        (
            c.job_lease_secs,
            c.job_output_ttl_secs,
            c.prune_interval_secs,
            c.backup_interval_secs,
            c.backup_keep
        ),
        (5, 60, 0, 0, 2),
        "0 turns pruning and backups off"
    );
    for (name, value) in [
        ("SPV_JOB_LEASE_SECS", "0"),
        ("SPV_JOB_LEASE_SECS", "soon"),
        ("SPV_JOB_LEASE_SECS", "86401"),
        ("SPV_JOB_LEASE_SECS", "18446744073709551615"),
        ("SPV_SHUTDOWN_TIMEOUT_SECS", "86401"),
        ("SPV_SHUTDOWN_TIMEOUT_SECS", "18446744073709551615"),
        ("SPV_JOB_OUTPUT_TTL_SECS", "-1"),
        ("SPV_PRUNE_INTERVAL_SECS", "hourly"),
        ("SPV_BACKUP_INTERVAL_SECS", "1.5"),
        ("SPV_BACKUP_KEEP", "0"),
        ("SPV_THUMBNAIL_REDIS_TTL_SECS", "86401"),
        ("SPV_THUMBNAIL_REDIS_TTL_SECS", "an hour"),
    ] {
        let err = env(&[(name, value)]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
        assert!(
            err.to_string().starts_with(&format!("{name}: ")),
            "{name}={value}: {err}"
        );
    }
    let c = env(&[
        ("SPV_JOB_LEASE_SECS", "86400"),
        ("SPV_SHUTDOWN_TIMEOUT_SECS", "86400"),
    ])
    .unwrap();
    assert_eq!((c.job_lease_secs, c.shutdown_timeout_secs), (86400, 86400));
    let err = Config::from_toml_str("shutdown_timeout_secs = 86401\n").unwrap_err();
    assert!(
        err.to_string().starts_with("SPV_SHUTDOWN_TIMEOUT_SECS: "),
        "{err}"
    );
    let c = Config::from_toml_str("job_lease_secs = 9\nbackup_keep = 3\n").unwrap();
    assert_eq!((c.job_lease_secs, c.backup_keep), (9, 3));
    assert_eq!(c.thumbnail_redis_ttl_secs, 3600);
    let c = env(&[("SPV_THUMBNAIL_REDIS_TTL_SECS", "0")]).unwrap();
    assert_eq!(c.thumbnail_redis_ttl_secs, 0, "0 turns the Redis tier off");
}

#[test]
fn renderer_defaults_to_auto_reads_each_choice_and_names_itself_when_bad() {
    use crate::render::RendererChoice;
    assert_eq!(env(&[]).unwrap().renderer, RendererChoice::Auto);
    for (value, choice) in [
        ("cpu", RendererChoice::Cpu),
        ("GPU", RendererChoice::Gpu),
        (" auto ", RendererChoice::Auto),
    ] {
        assert_eq!(env(&[("SPV_RENDERER", value)]).unwrap().renderer, choice);
    }
    let err = env(&[("SPV_RENDERER", "vulkan")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "SPV_RENDERER: \"vulkan\" is not valid; expected auto, cpu or gpu"
    );
    let config = Config::from_toml_str("renderer = \"gpu\"\n").unwrap();
    assert_eq!(config.renderer, RendererChoice::Gpu);
    assert!(Config::from_toml_str("renderer = \"fast\"\n").is_err());
}

#[test]
fn rate_limits_and_trusted_proxies_from_env_and_toml() {
    use crate::ratelimit::{Group, Limit, RateLimits};

    let c = Config::from_env_map([
        (
            "SPV_RATE_LIMITS".to_string(),
            "auth=6/1m,render=off".to_string(),
        ),
        ("SPV_TRUSTED_PROXIES".to_string(), "10.0.0.0/8".to_string()),
    ])
    .unwrap();
    assert_eq!(c.rate_limits.get(Group::Auth), Limit::new(6, 60));
    assert_eq!(c.rate_limits.get(Group::Render), None);
    assert_eq!(
        c.rate_limits.get(Group::Api),
        RateLimits::default().get(Group::Api)
    );
    assert!(c.trusted_proxies.contains("10.1.1.1".parse().unwrap()));

    let c =
        Config::from_toml_str("rate_limits = \"api=50/1s\"\ntrusted_proxies = \"192.0.2.0/24\"\n")
            .unwrap();
    assert_eq!(c.rate_limits.get(Group::Api), Limit::new(50, 1));
    assert!(c.trusted_proxies.contains("192.0.2.9".parse().unwrap()));
    // The environment changes the groups it names, over the file's.
    let c = c
        .merge_env([("SPV_RATE_LIMITS".to_string(), "auth=off".to_string())])
        .unwrap();
    assert_eq!(c.rate_limits.get(Group::Api), Limit::new(50, 1));
    assert_eq!(c.rate_limits.get(Group::Auth), None);

    let err = Config::from_env_map([("SPV_RATE_LIMITS".to_string(), "logins=5/m".to_string())])
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("SPV_RATE_LIMITS: \"logins=5/m\""),
        "{err}"
    );
    let err = Config::from_toml_str("rate_limits = \"auth=5/week\"\n").unwrap_err();
    assert!(
        err.to_string().contains("SPV_RATE_LIMITS: \"auth=5/week\""),
        "{err}"
    );
    let err =
        Config::from_env_map([("SPV_TRUSTED_PROXIES".to_string(), "lb".to_string())]).unwrap_err();
    assert!(
        err.to_string().starts_with("SPV_TRUSTED_PROXIES: \"lb\""),
        "{err}"
    );
}

#[test]
fn role_migrate_and_job_render_slots() {
    let c = Config::default();
    assert_eq!(
        (c.role, c.migrate, c.job_render_slots),
        (Role::All, true, None)
    );
    let c = env(&[
        ("SPV_ROLE", "Worker"),
        ("SPV_NO_MIGRATE", "true"),
        ("SPV_JOB_RENDER_SLOTS", "3"),
    ])
    .unwrap();
    assert_eq!((c.role, c.migrate), (Role::Worker, false));
    assert_eq!(c.effective_job_render_slots(), 3);
    assert!(!c.role.serves_api() && c.role.runs_jobs());
    let err = env(&[("SPV_ROLE", "both")]).unwrap_err();
    assert!(err.to_string().starts_with("SPV_ROLE:"), "{err}");
    let err = env(&[("SPV_JOB_RENDER_SLOTS", "0")]).unwrap_err();
    assert!(err.to_string().starts_with("SPV_JOB_RENDER_SLOTS"), "{err}");
    let c =
        Config::from_toml_str("role = \"api\"\nmigrate = false\njob_render_slots = 2\n").unwrap();
    assert_eq!(
        (c.role, c.migrate, c.job_render_slots),
        (Role::Api, false, Some(2))
    );
    assert!(c.role.serves_api() && !c.role.runs_jobs());
}

#[test]
fn the_advertised_address_of_a_node() {
    let bound: SocketAddr = "0.0.0.0:4100".parse().unwrap();
    // Set: as given, without a trailing slash.
    let c = env(&[("SPV_ADVERTISE_URL", "http://node-a.internal:3000/")]).unwrap();
    assert_eq!(c.advertise_url_for(bound), "http://node-a.internal:3000");
    // Bound to one address: that one; with TLS, https.
    let c = Config::default();
    assert_eq!(
        c.advertise_url_for("127.0.0.1:4100".parse().unwrap()),
        "http://127.0.0.1:4100"
    );
    let c = env(&[("SPV_TLS_CERT", "c.pem"), ("SPV_TLS_KEY", "k.pem")]).unwrap();
    assert_eq!(
        c.advertise_url_for("10.0.0.5:443".parse().unwrap()),
        "https://10.0.0.5:443"
    );
    // Every interface: the address this host reaches Redis from (loopback here).
    let c = env(&[("REDIS_URL", "redis://:secret@127.0.0.1:6390/0")]).unwrap();
    assert_eq!(c.advertise_url_for(bound), "http://127.0.0.1:4100");
    assert_eq!(
        Config::default().advertise_url_for(bound),
        "http://127.0.0.1:4100"
    );
    // A path or another scheme is refused, naming the variable.
    for bad in [
        "node-a:3000",
        "ftp://node-a",
        "http://node-a:3000/spv",
        "http://",
    ] {
        let err = env(&[("SPV_ADVERTISE_URL", bad)]).unwrap_err();
        assert!(
            err.to_string().starts_with("SPV_ADVERTISE_URL"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn redis_hosts() {
    assert_eq!(
        redis_host("redis://u:p@cache:6380/2").as_deref(),
        Some("cache:6380")
    );
    assert_eq!(redis_host("redis://cache").as_deref(), Some("cache:6379"));
    assert_eq!(
        redis_host("rediss://[::1]/0").as_deref(),
        Some("[::1]:6379")
    );
    assert_eq!(
        redis_host("redis://[::1]:7000").as_deref(),
        Some("[::1]:7000")
    );
    assert_eq!(redis_host("redis://"), None);
}
