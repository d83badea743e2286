//! Authentication and TLS as users meet them: SCRAM-SHA-256 users from the
//! config file, trust only on loopback, TLS with `sslmode=require` and
//! `verify-full`, through psql and tokio-postgres.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use std::io::Write;

use crate::support::{Brook, message, sqlstate};

pub(crate) const PASSWORD: &str = "Tr0ub4dor&3 with spaces";

fn brook_cmd(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_brook"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("brook runs");
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin.as_bytes()).expect("stdin");
    }
    child.wait_with_output().expect("brook exits")
}

/// A config file with `analyst`'s verifier, made by `brook password` as a
/// user would make it; `extra` is appended (TOML).
pub(crate) fn config_with_user(dir: &Path, extra: &str) -> PathBuf {
    let out = brook_cmd(&["password", "--user", "analyst"], &format!("{PASSWORD}\n"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let entry = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(entry.contains("SCRAM-SHA-256$4096:"), "{entry}");
    assert!(
        !entry.contains(PASSWORD),
        "the password is printed: {entry}"
    );
    let path = dir.join("brook.toml");
    std::fs::write(&path, format!("{extra}\n{entry}")).expect("config written");
    path
}

/// psql with a libpq connection string; the password, if any, from PGPASSWORD.
fn psql(conninfo: &str, password: Option<&str>, sql: &str) -> (String, String, bool) {
    let mut cmd = Command::new("psql");
    cmd.args([conninfo, "-X", "-A", "-t", "-w", "-c", sql])
        .env("PGCONNECT_TIMEOUT", "10")
        .env_remove("PGPASSWORD");
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    let out = cmd.output().expect("psql is installed");
    (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
        out.status.success(),
    )
}

/// This machine's address on its first non-loopback interface: the route a
/// remote client would take (a UDP "connect" sends nothing).
fn non_loopback_ip() -> String {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").expect("udp socket");
    socket
        .connect("192.0.2.1:9")
        .or_else(|_| socket.connect("10.255.255.1:9"))
        .expect("this test needs a non-loopback interface with a route");
    let ip = socket.local_addr().expect("local address").ip();
    assert!(
        !ip.is_loopback() && !ip.is_unspecified(),
        "no non-loopback address: {ip}"
    );
    ip.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_users_log_in_and_wrong_passwords_get_28p01() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_user(dir.path(), "");
    let brook = Brook::start_with(
        "127.0.0.1",
        &["--config".into(), config.display().to_string()],
    );
    let conn = |user: &str| {
        format!(
            "host=127.0.0.1 port={} user={user} dbname=brook",
            brook.port
        )
    };

    // psql, the right password.
    let (out, err, ok) = psql(&conn("analyst"), Some(PASSWORD), "SELECT 40 + 2");
    assert!(ok, "{err}; log: {}", brook.log());
    assert_eq!(out.trim(), "42");

    // Wrong password, unknown user, no password: the same refusal.
    let (_, err, ok) = psql(&conn("analyst"), Some("wrong"), "SELECT 1");
    assert!(!ok);
    assert!(
        err.contains("password authentication failed for user \"analyst\""),
        "{err}"
    );
    let (_, err, ok) = psql(&conn("mallory"), Some(PASSWORD), "SELECT 1");
    assert!(!ok);
    assert!(
        err.contains("password authentication failed for user \"mallory\""),
        "{err}"
    );
    let (_, err, ok) = psql(&conn("analyst"), None, "SELECT 1");
    assert!(!ok);
    assert!(err.contains("no password supplied"), "{err}");

    // tokio-postgres: the code clients switch on.
    let good = format!("{} password='{PASSWORD}'", conn("analyst"));
    let (client, connection) = tokio_postgres::connect(&good, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("{e}; log: {}", brook.log()));
    tokio::spawn(connection);
    let row = client.query_one("SELECT 1::bigint", &[]).await.unwrap();
    assert_eq!(row.get::<_, i64>(0), 1);
    let bad = format!("{} password=nope", conn("analyst"));
    let err = tokio_postgres::connect(&bad, tokio_postgres::NoTls)
        .await
        .err()
        .expect("a wrong password is refused");
    assert_eq!(sqlstate(&err), "28P01", "{}", message(&err));

    // Refusals harm no one: the logged-in session still answers.
    let row = client.query_one("SELECT 2::bigint", &[]).await.unwrap();
    assert_eq!(row.get::<_, i64>(0), 2);

    // The log names the failures but never the password or the verifier.
    let log = brook.log();
    let verifier = std::fs::read_to_string(&config).unwrap();
    let keys = verifier
        .split('$')
        .nth(2)
        .unwrap_or("none")
        .trim_end_matches(['"', '\n']);
    assert!(log.contains("password authentication failed"), "{log}");
    assert!(
        !log.contains(PASSWORD) && !log.contains("wrong") && !log.contains(keys),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trust_is_for_loopback_only() {
    // Without users, a non-loopback address refuses to start, saying why.
    let out = brook_cmd(
        &[
            "serve",
            "--listen",
            "0.0.0.0:0",
            "--data-dir",
            "/nonexistent",
        ],
        "",
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("only allowed on a loopback address"), "{err}");

    // With users and trust_loopback: loopback needs no password, the
    // network does.
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_user(dir.path(), "trust_loopback = true");
    let brook = Brook::start_with(
        "0.0.0.0",
        &["--config".into(), config.display().to_string()],
    );
    let local = |user: &str| {
        format!(
            "host=127.0.0.1 port={} user={user} dbname=brook",
            brook.port
        )
    };
    let (out, err, ok) = psql(&local("analyst"), None, "SELECT current_user");
    assert!(ok && out.trim() == "analyst", "{err}");
    // Trust spares the password, not the role: a name no role has is refused.
    let (_, err, ok) = psql(&local("whoever"), None, "SELECT 1");
    assert!(!ok);
    assert!(err.contains("role \"whoever\" does not exist"), "{err}");

    let ip = non_loopback_ip();
    let remote = |user: &str| format!("host={ip} port={} user={user} dbname=brook", brook.port);
    let (_, err, ok) = psql(&remote("whoever"), None, "SELECT 1");
    assert!(!ok);
    assert!(err.contains("no password supplied"), "{err}");
    let (out, err, ok) = psql(&remote("analyst"), Some(PASSWORD), "SELECT 1");
    assert!(ok && out.trim() == "1", "{err}; log: {}", brook.log());
}

/// A CA, and a server certificate it signed for localhost and 127.0.0.1.
struct Certificates {
    dir: tempfile::TempDir,
}

impl Certificates {
    fn make() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .output()
                .expect("openssl is installed");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        for ca in ["ca", "other-ca"] {
            run(&[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.crt"),
                "-subj",
                &format!("/CN=Brook test {ca}"),
            ]);
        }
        run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ]);
        std::fs::write(
            dir.path().join("san.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
        )
        .unwrap();
        run(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "server.crt",
        ]);
        Self { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
}

fn tls_connector(ca: &str) -> postgres_openssl::MakeTlsConnector {
    let mut builder = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls())
        .expect("openssl connector");
    builder.set_ca_file(ca).expect("CA file");
    postgres_openssl::MakeTlsConnector::new(builder.build())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_require_and_verify_full_with_psql_and_tokio_postgres() {
    let certs = Certificates::make();
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_user(
        dir.path(),
        &format!(
            "[tls]\ncert = \"{}\"\nkey = \"{}\"\nrequire = true\n",
            certs.path("server.crt"),
            certs.path("server.key")
        ),
    );
    let brook = Brook::start_with(
        "127.0.0.1",
        &["--config".into(), config.display().to_string()],
    );
    let base = |host: &str, mode: &str| {
        format!(
            "host={host} port={} user=analyst dbname=brook sslmode={mode}",
            brook.port
        )
    };

    // psql: require, and verify-full against the CA, by name and by address.
    let (out, err, ok) = psql(&base("127.0.0.1", "require"), Some(PASSWORD), "\\conninfo");
    assert!(ok, "{err}; log: {}", brook.log());
    assert!(out.contains("SSL connection"), "{out}");
    for host in ["localhost", "127.0.0.1"] {
        let conninfo = format!(
            "{} sslrootcert={}",
            base(host, "verify-full"),
            certs.path("ca.crt")
        );
        let (out, err, ok) = psql(&conninfo, Some(PASSWORD), "SELECT 'tls ok'");
        assert!(ok, "{host}: {err}");
        assert_eq!(out.trim(), "tls ok");
    }
    // A certificate from another CA is refused by the client.
    let conninfo = format!(
        "{} sslrootcert={}",
        base("localhost", "verify-full"),
        certs.path("other-ca.crt")
    );
    let (_, err, ok) = psql(&conninfo, Some(PASSWORD), "SELECT 1");
    assert!(!ok);
    assert!(err.contains("certificate verify failed"), "{err}");
    // Without TLS, the server refuses, saying what to do.
    let (_, err, ok) = psql(&base("127.0.0.1", "disable"), Some(PASSWORD), "SELECT 1");
    assert!(!ok);
    assert!(err.contains("accepts TLS connections only"), "{err}");

    // tokio-postgres over TLS, the server verified against the CA.
    let conninfo = format!("{} password='{PASSWORD}'", base("localhost", "require"));
    let (client, connection) =
        tokio_postgres::connect(&conninfo, tls_connector(&certs.path("ca.crt")))
            .await
            .unwrap_or_else(|e| panic!("{e}; log: {}", brook.log()));
    tokio::spawn(connection);
    let rows = client
        .query(
            "SELECT x FROM (VALUES (1::bigint), (2)) AS t(x) ORDER BY x",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        rows.iter().map(|r| r.get::<_, i64>(0)).collect::<Vec<_>>(),
        vec![1, 2]
    );
    let err = tokio_postgres::connect(&conninfo, tls_connector(&certs.path("other-ca.crt")))
        .await
        .err()
        .expect("an unknown CA fails verification");
    assert!(
        err.to_string().contains("certificate verify failed")
            || format!("{err:?}").contains("certificate verify failed"),
        "{err:?}"
    );
}

#[test]
fn unreadable_certificates_stop_the_server_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.pem");
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let out = brook_cmd(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            &dir.path().join("d").display().to_string(),
            "--tls-cert",
            "/nonexistent/cert.pem",
            "--tls-key",
            &key.display().to_string(),
        ],
        "",
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/cert.pem"), "{err}");
    assert!(!err.contains("c2VjcmV0"), "{err}");
}
