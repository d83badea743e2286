//! A real Kafka-compatible broker for the tests: tansu on a free loopback
//! port, one per test (so tests can stop and restart theirs), plus helpers to
//! create topics and produce with rdkafka's producer.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use tempfile::TempDir;

use crate::support::free_port;

pub struct Tansu {
    child: Option<Child>,
    pub port: u16,
    storage: String,
    /// SASL/SCRAM user and password when the broker requires authentication.
    sasl: Option<(String, String)>,
    _dir: TempDir,
}

fn tansu_binary() -> PathBuf {
    if let Ok(path) = std::env::var("TANSU") {
        return PathBuf::from(path);
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let cargo_bin = PathBuf::from(home).join(".cargo/bin/tansu");
    if cargo_bin.exists() {
        cargo_bin
    } else {
        PathBuf::from("tansu")
    }
}

impl Tansu {
    /// A broker keeping its data in a SQLite file in its own temporary
    /// directory (tansu resolves `sqlite://name` against its working
    /// directory), so that it survives a restart. Not tansu's in-memory
    /// storage: in tansu 0.6 its ListOffsets(latest) answers the last record
    /// batch's base offset + 1 rather than the high watermark, which would make
    /// lag and `SET OFFSETS LATEST` wrong in a way no real broker is.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut tansu = Self {
            child: None,
            port: free_port(),
            storage: "sqlite://tansu.db".to_string(),
            sasl: None,
            _dir: dir,
        };
        tansu.launch();
        tansu
    }

    /// A broker that requires SASL/SCRAM-SHA-512 with `user`/`password`.
    /// tansu keeps users in its storage and only lets them be created while
    /// authentication is off: create, then restart with it on.
    pub fn start_authenticated(user: &str, password: &str) -> Self {
        let mut tansu = Self::start();
        let status = Command::new(tansu_binary())
            .args(["user", "create", "--broker"])
            .arg(format!("tcp://127.0.0.1:{}", tansu.port))
            .args([user, password])
            .stdout(Stdio::null())
            .status()
            .expect("tansu user create runs");
        assert!(status.success(), "tansu user create failed");
        tansu.sasl = Some((user.to_string(), password.to_string()));
        tansu.restart();
        tansu
    }

    /// A client configuration for this broker (with SASL when it requires it).
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", self.brokers());
        if let Some((user, password)) = &self.sasl {
            config
                .set("security.protocol", "SASL_PLAINTEXT")
                .set("sasl.mechanisms", "SCRAM-SHA-512")
                .set("sasl.username", user)
                .set("sasl.password", password);
        }
        config
    }

    fn launch(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let log = std::fs::File::create(self._dir.path().join("tansu.log")).expect("log");
        // Die with the test process, whatever ends it: util-linux's setpriv
        // sets the parent-death signal, then execs the broker (same pid).
        let tansu = tansu_binary();
        let found = tansu.is_file()
            || std::env::var_os("PATH").is_some_and(|paths| {
                std::env::split_paths(&paths).any(|dir| dir.join(&tansu).is_file())
            });
        assert!(
            found,
            "tansu is not installed; install it with \
             `cargo install tansu --locked --features dynostore,libsql`"
        );
        let mut command = Command::new("setpriv");
        command
            .args(["--pdeathsig", "KILL", "--"])
            .arg(&tansu)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", &self.storage])
            .args(self.sasl.as_ref().map(|_| "--authentication"))
            .current_dir(self._dir.path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log);
        let child = command.spawn().unwrap_or_else(|e| {
            panic!(
                "tansu could not start ({e}); install it with \
                 `cargo install tansu --locked --features dynostore,libsql`"
            )
        });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("tansu did not listen within 30 s: {}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("tansu.log")).unwrap_or_default()
    }

    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stop the broker (kill: as abrupt as a network partition).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start it again on the same port with the same storage.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    pub async fn create_topic(&self, topic: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> =
            self.client_config().create().expect("admin client");
        let results = admin
            .create_topics(
                &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
            )
            .await
            .expect("create topic request");
        for r in results {
            r.unwrap_or_else(|(t, e)| panic!("creating topic {t}: {e}"));
        }
    }

    pub fn producer(&self) -> FutureProducer {
        self.client_config()
            .set("linger.ms", "5")
            .set("message.max.bytes", "2000000")
            .create()
            .expect("producer")
    }

    /// Produce `messages` (partition, payload) and wait until all are acknowledged.
    pub async fn produce<I>(&self, topic: &str, messages: I)
    where
        I: IntoIterator<Item = (i32, Vec<u8>)>,
    {
        let producer = self.producer();
        let mut pending = Vec::new();
        for (partition, payload) in messages {
            let producer = producer.clone();
            let topic = topic.to_string();
            pending.push(async move {
                let record: FutureRecord<'_, (), [u8]> = FutureRecord::to(&topic)
                    .partition(partition)
                    .payload(&payload);
                producer
                    .send(record, Duration::from_secs(30))
                    .await
                    .map_err(|(e, _)| e)
            });
            if pending.len() >= 1000 {
                for r in futures::future::join_all(pending.drain(..)).await {
                    r.expect("message acknowledged");
                }
            }
        }
        for r in futures::future::join_all(pending).await {
            r.expect("message acknowledged");
        }
        let _ = producer.flush(Duration::from_secs(10));
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.stop();
    }
}
