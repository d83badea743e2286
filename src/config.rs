//! Settings: command-line flags, then `BROOK_*` environment variables, then the
//! optional TOML file, then defaults (SPEC §1), in that order of precedence.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;
use serde::Deserialize;

use crate::error::{BrookError, Result};

/// Flags of `brook serve`; each may also come from the environment.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Address to accept Postgres connections on [default: 127.0.0.1:5433]
    #[arg(long, env = "BROOK_LISTEN")]
    pub listen: Option<String>,
    /// Directory holding tables, the catalog and pipeline state [default: ./brook-data]
    #[arg(long, env = "BROOK_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Default Kafka bootstrap servers for pipelines that name none
    #[arg(long, env = "BROOK_KAFKA")]
    pub kafka: Option<String>,
    /// TOML file with the same settings (listen, data_dir, kafka)
    #[arg(long, env = "BROOK_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    kafka: Option<String>,
}

/// The resolved settings of a server.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub kafka: Option<String>,
}

impl Settings {
    /// Resolve flags (already merged with the environment by clap) over the file over defaults.
    pub fn resolve(args: &ServeArgs) -> Result<Self> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileSettings::default(),
        };
        let listen = args
            .listen
            .clone()
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:5433".to_string());
        let listen: SocketAddr = listen.parse().map_err(|_| {
            BrookError::InvalidText(format!(
                "listen address \"{listen}\" is not host:port (for example 127.0.0.1:5433)"
            ))
        })?;
        if !listen.ip().is_loopback() {
            return Err(BrookError::Unsupported(format!(
                "listening on {listen} without configured users: trust authentication is \
                 only allowed on a loopback address; listen on 127.0.0.1"
            )));
        }
        Ok(Self {
            listen,
            data_dir: args
                .data_dir
                .clone()
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("./brook-data")),
            kafka: args.kafka.clone().or(file.kafka),
        })
    }
}

fn read_file(path: &Path) -> Result<FileSettings> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        BrookError::InvalidText(format!("cannot read config file {}: {e}", path.display()))
    })?;
    toml::from_str(&text)
        .map_err(|e| BrookError::InvalidText(format!("config file {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_file_and_file_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("brook.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:7000\"\ndata_dir = \"/tmp/x\"\n",
        )
        .unwrap();
        let args = ServeArgs {
            listen: Some("127.0.0.1:7001".into()),
            config: Some(path.clone()),
            ..Default::default()
        };
        let s = Settings::resolve(&args).unwrap();
        assert_eq!(s.listen.port(), 7001);
        assert_eq!(s.data_dir, PathBuf::from("/tmp/x"));

        let defaults = Settings::resolve(&ServeArgs::default()).unwrap();
        assert_eq!(defaults.listen.to_string(), "127.0.0.1:5433");
        assert_eq!(defaults.data_dir, PathBuf::from("./brook-data"));
    }

    #[test]
    fn non_loopback_without_users_is_refused() {
        let args = ServeArgs {
            listen: Some("0.0.0.0:5433".into()),
            ..Default::default()
        };
        let err = Settings::resolve(&args).unwrap_err().to_string();
        assert!(err.contains("only allowed on a loopback address"), "{err}");
    }

    #[test]
    fn unknown_file_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("brook.toml");
        std::fs::write(&path, "lissen = \"x\"\n").unwrap();
        let args = ServeArgs {
            config: Some(path),
            ..Default::default()
        };
        let err = Settings::resolve(&args).unwrap_err().to_string();
        assert!(err.contains("lissen"), "{err}");
    }
}
