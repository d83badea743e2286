//! Settings: command-line flags, then `BROOK_*` environment variables, then the
//! optional TOML file, then defaults (SPEC §1), in that order of precedence.
//!
//! Users live in the file only, and only as SCRAM-SHA-256 verifiers (what
//! PostgreSQL keeps in `pg_authid`): a leaked config file gives nobody a
//! password. `brook password` makes a verifier.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde::Deserialize;

use crate::error::{BrookError, Result};
use crate::scram::Verifier;
use crate::storage::flusher::FlushPolicy;

/// Sessions admitted at once unless `max_connections` says otherwise
/// (PostgreSQL's default).
pub const DEFAULT_MAX_CONNECTIONS: usize = 100;

/// How often a long INSERT/UPDATE/DELETE says it is still running.
pub const DEFAULT_NOTICE_INTERVAL: Duration = Duration::from_secs(10);

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
    /// TOML file with the same settings, plus [[users]] and [tls]
    #[arg(long, env = "BROOK_CONFIG")]
    pub config: Option<PathBuf>,
    /// Sessions served at once; more get SQLSTATE 53300 [default: 100]
    #[arg(long, env = "BROOK_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Default statement_timeout of every session ("30s", "500ms", "0" for none) [default: 0]
    #[arg(long, env = "BROOK_STATEMENT_TIMEOUT")]
    pub statement_timeout: Option<String>,
    /// Memory all running queries may hold together ("4GB", "512MB", "0" for no limit) [default: half of RAM]
    #[arg(long, env = "BROOK_MEMORY_LIMIT")]
    pub memory_limit: Option<String>,
    /// PEM certificate chain for TLS (with --tls-key)
    #[arg(long, env = "BROOK_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for TLS (with --tls-cert)
    #[arg(long, env = "BROOK_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// How often a long INSERT, UPDATE or DELETE reports that it is still running, as a NOTICE ("10s", "0" for never) [default: 10s]
    #[arg(long, env = "BROOK_NOTICE_INTERVAL")]
    pub notice_interval: Option<String>,
    /// How long committed rows may wait in memory (in the write-ahead log) before they are written to the table's files ("1s", "200ms") [default: 1s]
    #[arg(long, env = "BROOK_FLUSH_INTERVAL")]
    pub flush_interval: Option<String>,
    /// Memory a table's unflushed rows may take before they are written ("32MB") [default: 32MB]
    #[arg(long, env = "BROOK_FLUSH_SIZE")]
    pub flush_size: Option<String>,
    /// Serve Prometheus metrics at http://ADDRESS/metrics (for example 127.0.0.1:9187) [default: off]
    #[arg(long, env = "BROOK_METRICS")]
    pub metrics: Option<String>,
    /// File the audit log (logins, DDL, GRANT/REVOKE, pipeline and model operations) is appended to as JSON lines; "off" for none [default: <data-dir>/audit.log]
    #[arg(long, env = "BROOK_AUDIT_LOG")]
    pub audit_log: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    kafka: Option<String>,
    max_connections: Option<usize>,
    statement_timeout: Option<String>,
    memory_limit: Option<String>,
    notice_interval: Option<String>,
    flush_interval: Option<String>,
    flush_size: Option<String>,
    metrics: Option<String>,
    /// The audit log's file ("off": none).
    audit_log: Option<String>,
    /// Loopback connections skip the password even when users are configured.
    trust_loopback: Option<bool>,
    tls: Option<FileTls>,
    /// The key pipeline credentials are sealed with (crate::secrets).
    secrets_key_file: Option<PathBuf>,
    /// Older keys, while rotating: what they sealed is sealed again.
    #[serde(default)]
    previous_secrets_key_files: Vec<PathBuf>,
    /// The directories `COPY … FROM/TO 'file'` may reach (for superusers
    /// and members of pg_read/write_server_files).
    #[serde(default)]
    server_file_dirs: Vec<PathBuf>,
    #[serde(default)]
    users: Vec<FileUser>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTls {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    /// Refuse connections that do not negotiate TLS.
    require: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileUser {
    name: String,
    password: String,
}

/// A user who may log in with a password.
#[derive(Clone)]
pub struct User {
    pub name: String,
    pub verifier: Verifier,
}

/// Never prints the verifier, not even in a debug log of the settings.
impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Where TLS comes from, and whether it is mandatory.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub require: bool,
}

/// The resolved settings of a server.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub kafka: Option<String>,
    pub max_connections: usize,
    pub statement_timeout: Option<Duration>,
    /// Bytes of query memory (DataFusion's pool); `None` is unlimited.
    pub memory_limit: Option<usize>,
    pub users: Vec<User>,
    pub trust_loopback: bool,
    pub tls: Option<TlsSettings>,
    /// Where `/metrics` is served (`None`: not at all).
    pub metrics: Option<SocketAddr>,
    /// How often long DML sends a progress NOTICE (`None`: never).
    pub notice_interval: Option<Duration>,
    /// When memtables are written to Delta.
    pub flush: FlushPolicy,
    /// The key secrets at rest are sealed with, outside the data directory.
    pub secrets_key_file: PathBuf,
    /// Older keys that still open what they sealed (key rotation).
    pub previous_secrets_key_files: Vec<PathBuf>,
    /// The directories SQL may read and write server files in
    /// (default: `<data_dir>/import`).
    pub server_file_dirs: Vec<PathBuf>,
    /// Where the audit log is appended (`None`: it is off).
    pub audit_log: Option<PathBuf>,
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
            invalid(format!(
                "listen address \"{listen}\" is not host:port (for example 127.0.0.1:5433)"
            ))
        })?;
        let users = file
            .users
            .into_iter()
            .map(|u| {
                let verifier = u.password.parse::<Verifier>().map_err(|e| {
                    invalid(format!(
                        "password of user \"{}\" in the config file: {e}; \
                         make a verifier with `brook password`",
                        u.name
                    ))
                })?;
                Ok(User {
                    name: u.name,
                    verifier,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        if users.is_empty() && !listen.ip().is_loopback() {
            return Err(BrookError::Unsupported(format!(
                "listening on {listen} without configured users: trust authentication is \
                 only allowed on a loopback address; add [[users]] with SCRAM-SHA-256 \
                 passwords to the config file (see `brook password`) or listen on 127.0.0.1"
            )));
        }
        let tls = tls_settings(args, file.tls)?;
        let statement_timeout = match args.statement_timeout.clone().or(file.statement_timeout) {
            Some(text) => {
                parse_duration(&text).map_err(|e| invalid(format!("statement_timeout: {e}")))?
            }
            None => None,
        };
        let memory_limit = match args.memory_limit.clone().or(file.memory_limit) {
            Some(text) => parse_bytes(&text).map_err(|e| invalid(format!("memory_limit: {e}")))?,
            None => default_memory_limit(),
        };
        let notice_interval = match args.notice_interval.clone().or(file.notice_interval) {
            Some(text) => {
                parse_duration(&text).map_err(|e| invalid(format!("notice_interval: {e}")))?
            }
            None => Some(DEFAULT_NOTICE_INTERVAL),
        };
        let mut flush = FlushPolicy::default();
        if let Some(text) = args.flush_interval.clone().or(file.flush_interval) {
            flush.age = parse_duration(&text)
                .map_err(|e| invalid(format!("flush_interval: {e}")))?
                .unwrap_or(Duration::ZERO);
        }
        if let Some(text) = args.flush_size.clone().or(file.flush_size) {
            flush.bytes = parse_bytes(&text)
                .map_err(|e| invalid(format!("flush_size: {e}")))?
                .unwrap_or(0);
        }
        let metrics = match args.metrics.clone().or(file.metrics) {
            Some(text) => Some(text.parse::<SocketAddr>().map_err(|_| {
                invalid(format!(
                    "metrics address \"{text}\" is not host:port (for example 127.0.0.1:9187)"
                ))
            })?),
            None => None,
        };
        let max_connections = args
            .max_connections
            .or(file.max_connections)
            .unwrap_or(DEFAULT_MAX_CONNECTIONS);
        if max_connections == 0 {
            return Err(invalid("max_connections must be at least 1".to_string()));
        }
        let data_dir = args
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./brook-data"));
        Ok(Self {
            listen,
            secrets_key_file: file
                .secrets_key_file
                .unwrap_or_else(|| crate::secrets::default_key_file(&data_dir)),
            previous_secrets_key_files: file.previous_secrets_key_files,
            server_file_dirs: if file.server_file_dirs.is_empty() {
                vec![data_dir.join(crate::engine::IMPORT_DIR)]
            } else {
                file.server_file_dirs
            },
            audit_log: match args.audit_log.clone().or(file.audit_log) {
                None => Some(data_dir.join(crate::observability::audit::DEFAULT_FILE)),
                Some(off) if off.is_empty() || off.eq_ignore_ascii_case("off") => None,
                Some(path) => Some(PathBuf::from(path)),
            },
            data_dir,
            kafka: args.kafka.clone().or(file.kafka),
            max_connections,
            statement_timeout,
            memory_limit,
            users,
            trust_loopback: file.trust_loopback.unwrap_or(false),
            tls,
            metrics,
            notice_interval,
            flush,
        })
    }
}

fn invalid(message: String) -> BrookError {
    BrookError::InvalidText(message)
}

fn tls_settings(args: &ServeArgs, file: Option<FileTls>) -> Result<Option<TlsSettings>> {
    let (file_cert, file_key, require) = match file {
        Some(t) => (t.cert, t.key, t.require.unwrap_or(false)),
        None => (None, None, false),
    };
    match (
        args.tls_cert.clone().or(file_cert),
        args.tls_key.clone().or(file_key),
    ) {
        (Some(cert), Some(key)) => Ok(Some(TlsSettings { cert, key, require })),
        (None, None) if require => Err(invalid(
            "tls.require is set but no certificate is: give tls.cert and tls.key".to_string(),
        )),
        (None, None) => Ok(None),
        _ => Err(invalid(
            "TLS needs both a certificate and its key (--tls-cert and --tls-key)".to_string(),
        )),
    }
}

/// A PostgreSQL-style duration: a bare number is milliseconds, units are
/// ms, s, min, h, d (as `SET statement_timeout` takes them). Zero is "none".
/// Our own because no crate follows PostgreSQL's unit rules (bare = ms).
pub fn parse_duration(text: &str) -> std::result::Result<Option<Duration>, String> {
    let (number, unit) = split_unit(text);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("\"{text}\" is not a duration (for example 30s or 500ms)"))?;
    let ms = match unit {
        "" | "ms" => value,
        "s" => value * 1e3,
        "min" => value * 60e3,
        "h" => value * 3_600e3,
        "d" => value * 86_400e3,
        other => return Err(format!("unknown unit \"{other}\" (ms, s, min, h, d)")),
    };
    if !(0.0..=1e13).contains(&ms) {
        return Err(format!("\"{text}\" is out of range"));
    }
    Ok((ms >= 1.0).then(|| Duration::from_millis(ms as u64)))
}

/// A PostgreSQL-style size: a bare number is bytes, units kB, MB, GB, TB are
/// powers of 1024 (as in postgresql.conf). Zero is "no limit".
pub fn parse_bytes(text: &str) -> std::result::Result<Option<usize>, String> {
    let (number, unit) = split_unit(text);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("\"{text}\" is not a size (for example 4GB or 512MB)"))?;
    let factor = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "kib" => 1024.0,
        "mb" | "mib" => 1024.0 * 1024.0,
        "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "tb" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("unknown unit \"{unit}\" (kB, MB, GB, TB)")),
    };
    let bytes = value * factor;
    if !(0.0..=(usize::MAX as f64)).contains(&bytes) {
        return Err(format!("\"{text}\" is out of range"));
    }
    Ok((bytes >= 1.0).then_some(bytes as usize))
}

fn split_unit(text: &str) -> (&str, &str) {
    let text = text.trim();
    let at = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    (text[..at].trim(), text[at..].trim())
}

/// Half of the machine's memory: a runaway query fails with 53200 long
/// before the kernel's OOM killer takes the whole server (and its pipelines).
fn default_memory_limit() -> Option<usize> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: usize = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024 / 2)
}

fn read_file(path: &Path) -> Result<FileSettings> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        BrookError::InvalidText(format!("cannot read config file {}: {e}", path.display()))
    })?;
    // toml's own rendering quotes the offending line, which may hold a
    // password: name the line and the problem only.
    toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
        let at = line.map(|l| format!(", line {l}")).unwrap_or_default();
        BrookError::InvalidText(format!(
            "config file {}{at}: {}",
            path.display(),
            e.message()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_file(text: &str) -> (tempfile::TempDir, ServeArgs) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("brook.toml");
        std::fs::write(&path, text).unwrap();
        let args = ServeArgs {
            config: Some(path),
            ..Default::default()
        };
        (dir, args)
    }

    #[test]
    fn flags_win_over_file_and_file_over_defaults() {
        let (_dir, mut args) =
            with_file("listen = \"127.0.0.1:7000\"\ndata_dir = \"/tmp/x\"\nmax_connections = 7\n");
        args.listen = Some("127.0.0.1:7001".into());
        let s = Settings::resolve(&args).unwrap();
        assert_eq!(s.listen.port(), 7001);
        assert_eq!(s.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(s.max_connections, 7);

        let defaults = Settings::resolve(&ServeArgs::default()).unwrap();
        assert_eq!(defaults.listen.to_string(), "127.0.0.1:5433");
        assert_eq!(defaults.data_dir, PathBuf::from("./brook-data"));
        assert_eq!(defaults.max_connections, DEFAULT_MAX_CONNECTIONS);
        assert_eq!(defaults.statement_timeout, None);
        assert!(defaults.users.is_empty());
    }

    #[test]
    fn non_loopback_without_users_is_refused() {
        let args = ServeArgs {
            listen: Some("0.0.0.0:5433".into()),
            ..Default::default()
        };
        let err = Settings::resolve(&args).unwrap_err().to_string();
        assert!(err.contains("only allowed on a loopback address"), "{err}");
        assert!(err.contains("brook password"), "{err}");
    }

    #[test]
    fn non_loopback_with_users_is_allowed() {
        let verifier = Verifier::from_password("s3cret").to_string();
        let (_dir, mut args) = with_file(&format!(
            "[[users]]\nname = \"analyst\"\npassword = \"{verifier}\"\n"
        ));
        args.listen = Some("0.0.0.0:5433".into());
        let s = Settings::resolve(&args).unwrap();
        assert_eq!(s.users.len(), 1);
        assert_eq!(s.users[0].name, "analyst");
        assert!(
            !format!("{s:?}").contains(&verifier),
            "settings debug shows the verifier"
        );
    }

    #[test]
    fn plaintext_passwords_are_refused_without_echoing_them() {
        let (_dir, args) = with_file("[[users]]\nname = \"a\"\npassword = \"hunter2\"\n");
        let err = Settings::resolve(&args).unwrap_err().to_string();
        assert!(err.contains("user \"a\""), "{err}");
        assert!(err.contains("SCRAM-SHA-256"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn tls_needs_both_files() {
        let args = ServeArgs {
            tls_cert: Some("c.pem".into()),
            ..Default::default()
        };
        let err = Settings::resolve(&args).unwrap_err().to_string();
        assert!(err.contains("both a certificate and its key"), "{err}");
        let (_dir, args) = with_file("[tls]\nrequire = true\n");
        let err = Settings::resolve(&args).unwrap_err().to_string();
        assert!(err.contains("no certificate"), "{err}");
    }

    #[test]
    fn durations_and_sizes_read_like_postgres() {
        assert_eq!(parse_duration("250"), Ok(Some(Duration::from_millis(250))));
        assert_eq!(parse_duration("30s"), Ok(Some(Duration::from_secs(30))));
        assert_eq!(parse_duration("2 min"), Ok(Some(Duration::from_secs(120))));
        assert_eq!(parse_duration("0"), Ok(None));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5 weeks").is_err());
        assert_eq!(parse_bytes("512MB"), Ok(Some(512 << 20)));
        assert_eq!(parse_bytes("4GB"), Ok(Some(4 << 30)));
        assert_eq!(parse_bytes("1.5kB"), Ok(Some(1536)));
        assert_eq!(parse_bytes("0"), Ok(None));
        assert!(parse_bytes("lots").is_err());
    }

    #[test]
    fn unknown_file_keys_are_named_without_quoting_the_line() {
        let (_dir, args) = with_file("listen = \"127.0.0.1:1\"\npasswd = \"hunter2\"\n");
        let err = Settings::resolve(&args).unwrap_err().to_string();
        assert!(err.contains("passwd"), "{err}");
        assert!(err.contains("line 2"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
}
