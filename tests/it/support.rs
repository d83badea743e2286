//! A real `brook serve` process per test, on a free loopback port with its own
//! data directory, reached through real Postgres clients.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;
use tokio_postgres::Client;

/// The server's own default (see `src/main.rs`).
const DEFAULT_LOG: &str = "warn,brook=info,buoyant_kernel=off,deltalake_core::writer::stats=error";

pub struct Brook {
    child: Option<Child>,
    pub port: u16,
    data_dir: PathBuf,
    /// Flags after `serve --listen … --data-dir …` (kept across restarts).
    extra: Vec<String>,
    /// The address `--listen` binds (127.0.0.1 unless a test asks otherwise).
    listen_ip: String,
    _dir: Option<TempDir>,
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

impl Brook {
    /// Start a server on a fresh, empty data directory.
    pub fn start() -> Self {
        Self::start_logging(DEFAULT_LOG)
    }

    /// Like [`Brook::start`], logging what `filter` (a `RUST_LOG`) asks for.
    pub fn start_logging(filter: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().join("data");
        let mut brook = Self::launch(&data_dir, filter, &[]);
        brook._dir = Some(dir);
        brook
    }

    /// A server on a fresh data directory listening on `listen_ip`, with more flags.
    pub fn start_with(listen_ip: &str, extra: &[String]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().join("data");
        let mut brook = Self::launch_on(listen_ip, &data_dir, DEFAULT_LOG, extra);
        brook._dir = Some(dir);
        brook
    }

    /// A server on a fresh data directory whose pipelines default to `brokers`.
    pub fn start_with_kafka(brokers: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().join("data");
        let extra = ["--kafka".to_string(), brokers.to_string()];
        let mut brook = Self::launch(&data_dir, DEFAULT_LOG, &extra);
        brook._dir = Some(dir);
        brook
    }

    /// Start a server on `data_dir` (which may hold an earlier server's data).
    pub fn start_on(data_dir: &Path) -> Self {
        Self::launch(data_dir, DEFAULT_LOG, &[])
    }

    fn launch(data_dir: &Path, filter: &str, extra: &[String]) -> Self {
        Self::launch_on("127.0.0.1", data_dir, filter, extra)
    }

    fn launch_on(listen_ip: &str, data_dir: &Path, filter: &str, extra: &[String]) -> Self {
        let port = free_port();
        let log = std::fs::File::create(data_dir.with_extension(format!("{port}.log")))
            .or_else(|_| {
                std::fs::create_dir_all(data_dir.parent().unwrap_or(Path::new("/tmp")))?;
                std::fs::File::create(data_dir.with_extension(format!("{port}.log")))
            })
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_brook"))
            .args(["serve", "--listen"])
            .arg(format!("{listen_ip}:{port}"))
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra)
            .env("RUST_LOG", filter)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("brook binary starts");
        let brook = Self {
            child: Some(child),
            port,
            data_dir: data_dir.to_path_buf(),
            extra: extra.to_vec(),
            listen_ip: listen_ip.to_string(),
            _dir: None,
        };
        brook.wait_ready();
        brook
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "brook did not listen on {} within 60 s; log: {}",
            self.port,
            self.log()
        );
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.with_extension(format!("{}.log", self.port)))
            .unwrap_or_default()
    }

    /// The server's data directory (tables live under `tables/`).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn conn_string(&self) -> String {
        format!("host=127.0.0.1 port={} user=brook dbname=brook", self.port)
    }

    pub fn url(&self) -> String {
        format!("postgresql://brook@127.0.0.1:{}/brook", self.port)
    }

    /// A tokio-postgres client (its connection task runs in the background).
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, connection) =
            tokio_postgres::connect(&self.conn_string(), tokio_postgres::NoTls)
                .await
                .unwrap_or_else(|e| panic!("connect to brook: {e}; log: {}", self.log()));
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client
    }

    /// Run `psql` with `args` and return (stdout, stderr, success).
    pub fn psql(&self, args: &[&str]) -> (String, String, bool) {
        let out = Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "brook",
                "-d",
                "brook",
                "-X",
                "-v",
                "ON_ERROR_STOP=1",
            ])
            .args(args)
            .env("PGCONNECT_TIMEOUT", "10")
            .output()
            .expect("psql is installed (apt-get install postgresql-client)");
        (
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
            out.status.success(),
        )
    }

    /// `kill -9`: no chance to flush or clean up.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait: the graceful path. Returns the exit status code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stop (SIGTERM) and start again on the same data directory and keep the temp dir alive.
    pub fn restart(mut self) -> Self {
        self.terminate();
        let mut next = Self::launch_on(
            &self.listen_ip,
            &self.data_dir.clone(),
            DEFAULT_LOG,
            &self.extra,
        );
        next._dir = self._dir.take();
        next
    }

    /// `kill -9`, then start again on the same data directory.
    pub fn crash_and_restart(mut self) -> Self {
        self.kill9();
        let mut next = Self::launch_on(
            &self.listen_ip,
            &self.data_dir.clone(),
            DEFAULT_LOG,
            &self.extra,
        );
        next._dir = self._dir.take();
        next
    }
}

impl Drop for Brook {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A harness size from the environment (`CHAOS_MESSAGES`, `LOAD_CLIENTS`, …):
/// CI runs the default, `bench/*/run.sh` the full size.
pub fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The SQLSTATE of a failed statement, or a panic naming what happened instead.
/// Run a Python script (`python3 -c`); its stdout and stderr.
pub fn python(script: &str) -> (String, String) {
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .output()
        .expect("python3 runs");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn sqlstate(err: &tokio_postgres::Error) -> String {
    err.as_db_error()
        .map(|e| e.code().code().to_string())
        .unwrap_or_else(|| panic!("not a server error: {err}"))
}

/// The message of a failed statement.
pub fn message(err: &tokio_postgres::Error) -> String {
    err.as_db_error()
        .map(|e| e.message().to_string())
        .unwrap_or_else(|| err.to_string())
}

/// A single whole-number answer (0 for NULL), read from its text: a
/// `count` is `bigint`, a `sum` of `bigint` is `numeric`, as in PostgreSQL.
pub async fn count(client: &Client, sql: &str) -> i64 {
    let messages = client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {}", message(&e)));
    let rows: Vec<_> = messages
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => Some(row),
            _ => None,
        })
        .collect();
    assert_eq!(rows.len(), 1, "{sql}: one row");
    rows[0]
        .get(0)
        .map(|text| {
            text.parse()
                .unwrap_or_else(|_| panic!("{sql}: {text} is no whole number"))
        })
        .unwrap_or(0)
}

/// Poll `sql` (a single bigint) until it equals `expected`.
pub async fn wait_for(brook: &Brook, client: &Client, sql: &str, expected: i64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = -1;
    while Instant::now() < deadline {
        last = count(client, sql).await;
        if last == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cursors = client
        .simple_query("SELECT * FROM information_schema.pipelines_cursors")
        .await
        .map(|rows| {
            rows.iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => Some(
                        (0..r.len())
                            .map(|i| r.get(i).unwrap_or("NULL").to_string())
                            .collect::<Vec<_>>()
                            .join(" "),
                    ),
                    _ => None,
                })
                .collect::<Vec<_>>()
        });
    let state = client
        .query(
            "SELECT pipeline_name, state, last_error FROM information_schema.pipelines",
            &[],
        )
        .await
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    format!(
                        "{} {} {:?}",
                        r.get::<_, String>(0),
                        r.get::<_, String>(1),
                        r.get::<_, Option<String>>(2)
                    )
                })
                .collect::<Vec<_>>()
        });
    panic!(
        "{sql} stayed at {last}, expected {expected}; pipelines: {state:?}; cursors: {cursors:?}; log: {}",
        brook.log()
    );
}
