//! The command-line flags and how they combine with the environment and a TOML file.

use std::net::SocketAddr;
use std::path::PathBuf;

use spv::config::Config;

/// Flags of `spv-server`. Every setting also has an environment variable (see
/// `spv::config`); flags win over the environment, which wins over the file.
#[derive(Debug, Clone, Default, clap::Parser)]
#[command(name = "spv-server", version, about = "Serve spv over HTTP")]
pub struct Cli {
    /// Address to listen on (SPV_BIND_ADDR, default 0.0.0.0:3000).
    #[arg(long)]
    pub bind: Option<SocketAddr>,
    /// Data directory (SPV_DATA_DIR, default ./spv-data).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// A TOML configuration file whose keys are the field names of spv's `Config`
    /// (SPV_CONFIG). Re-read on SIGHUP.
    #[arg(long, value_name = "FILE", env = "SPV_CONFIG")]
    pub config: Option<PathBuf>,
    /// What this process does (SPV_ROLE, default all): `all` serves HTTP and runs jobs,
    /// `api` serves HTTP and runs no jobs, `worker` runs jobs and serves only /health,
    /// /ready and /metrics.
    #[arg(long, value_name = "all|api|worker")]
    pub role: Option<String>,
    /// Do not migrate the database at start (SPV_NO_MIGRATE=true); a database that lacks
    /// a migration is then an error: run `spv-cli migrate` first.
    #[arg(long)]
    pub no_migrate: bool,
    /// Where the other nodes reach this one, `http://host:port` (SPV_ADVERTISE_URL;
    /// default: the bound address, or with a wildcard bind the address this host reaches
    /// Redis from). Live sessions of a document this node owns are relayed here.
    #[arg(long, value_name = "URL")]
    pub advertise_url: Option<String>,
}

impl Cli {
    /// The configuration: defaults, then the file, then `env`, then the flags.
    pub fn config(
        &self,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Config> {
        let mut config = Config::load(self.config.as_deref(), env)?;
        if let Some(bind) = self.bind {
            config.bind_addr = bind;
        }
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(role) = &self.role {
            config.role = role.parse()?;
        }
        if self.no_migrate {
            config.migrate = false;
        }
        if let Some(url) = &self.advertise_url {
            config.advertise_url = Some(url.clone());
        }
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_env_over_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("spv.toml");
        std::fs::write(
            &file,
            "bind_addr = \"127.0.0.1:1\"\nmax_thumbnail_size = 10\njob_workers = 2\n",
        )
        .unwrap();
        let cli = Cli {
            bind: Some("127.0.0.1:3".parse().unwrap()),
            data_dir: None,
            config: Some(file),
            ..Cli::default()
        };
        let env = [
            ("SPV_BIND_ADDR".to_string(), "127.0.0.1:2".to_string()),
            ("SPV_MAX_THUMBNAIL_SIZE".to_string(), "20".to_string()),
        ];
        let config = cli.config(env).unwrap();
        assert_eq!(config.bind_addr.port(), 3);
        assert_eq!(config.max_thumbnail_size, 20);
        assert_eq!(config.job_workers, 2);
    }

    #[test]
    fn role_and_no_migrate_flags_win() {
        let env = [("SPV_ROLE".to_string(), "api".to_string())];
        let config = Cli::default().config(env.clone()).unwrap();
        assert_eq!(
            (config.role, config.migrate),
            (spv::config::Role::Api, true)
        );
        let cli = Cli {
            role: Some("worker".into()),
            no_migrate: true,
            ..Cli::default()
        };
        let config = cli.config(env).unwrap();
        assert_eq!(config.role, spv::config::Role::Worker);
        assert!(!config.migrate);
        let bad = Cli {
            role: Some("both".into()),
            ..Cli::default()
        };
        assert!(format!("{:#}", bad.config([]).unwrap_err()).contains("SPV_ROLE"));
    }

    #[tokio::test]
    async fn a_no_migrate_start_on_an_unmigrated_database_names_spv_cli_migrate() {
        let dir = tempfile::tempdir().unwrap();
        let cli = Cli {
            data_dir: Some(dir.path().to_owned()),
            no_migrate: true,
            ..Cli::default()
        };
        let config = cli.config([]).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let err = crate::run(config, listener, std::future::pending())
            .await
            .unwrap_err();
        assert!(format!("{err:#}").contains("spv-cli migrate"), "{err:#}");
    }

    #[test]
    fn a_bad_variable_is_named() {
        let env = [("SPV_PROMETHEUS_ENABLED".to_string(), "perhaps".to_string())];
        let err = Cli::default().config(env).unwrap_err();
        assert!(
            format!("{err:#}").contains("SPV_PROMETHEUS_ENABLED"),
            "{err:#}"
        );
    }
}
