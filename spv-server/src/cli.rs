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
    /// A TOML configuration file whose keys are the field names of spv's `Config`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
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
    fn a_bad_variable_is_named() {
        let env = [("SPV_PROMETHEUS_ENABLED".to_string(), "perhaps".to_string())];
        let err = Cli::default().config(env).unwrap_err();
        assert!(
            format!("{err:#}").contains("SPV_PROMETHEUS_ENABLED"),
            "{err:#}"
        );
    }
}
