//! Drivers and libraries as their users drive them, unmodified: SQLAlchemy 2
//! with pandas, psycopg 3's server-side features, pgJDBC (what DBeaver and
//! Metabase run on connect), sqlx. Each client script asserts what its user
//! would see and prints `ok <step>`; these tests run the scripts against a
//! live server and require every step.

use std::process::Command;

use crate::support::Brook;

/// Run `command`, failing with its output and the server's log unless it
/// succeeds and prints `ok <step>` for every step.
fn run_steps(brook: &Brook, mut command: Command, steps: &[&str]) {
    let out = command.output().expect("the client program runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{command:?} failed\nstdout:\n{stdout}\nstderr:\n{stderr}\nserver log:\n{}",
        brook.log()
    );
    for step in steps {
        assert!(
            stdout.lines().any(|l| l == format!("ok {step}")),
            "step {step} did not pass\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
    }
}

fn script(name: &str) -> String {
    format!("{}/tests/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn sqlalchemy_and_pandas_reflect_query_and_write() {
    let brook = Brook::start();
    let mut python = Command::new("python3");
    python
        .arg(script("python/sqlalchemy_pandas.py"))
        .arg(format!(
            "postgresql+psycopg://brook@127.0.0.1:{}/brook",
            brook.port()
        ));
    run_steps(
        &brook,
        python,
        &[
            "create",
            "table_names",
            "get_columns",
            "get_pk_constraint",
            "reflection",
            "orm",
            "read_sql",
            "to_sql",
        ],
    );
}

#[test]
fn psycopg_binary_results_server_cursors_and_copy_out() {
    let brook = Brook::start();
    let mut python = Command::new("python3");
    python
        .arg(script("python/psycopg_features.py"))
        .arg(brook.conn_string());
    run_steps(
        &brook,
        python,
        &[
            "binary_and_text_results",
            "server_side_cursor",
            "copy_out",
            "deallocate",
            "errors",
        ],
    );
    assert!(
        !std::path::Path::new("/tmp/brook-copy-to-file.csv").exists(),
        "COPY TO a server file was refused, yet the file exists"
    );
}

/// Debian's pgJDBC (`libpostgresql-jdbc-java`), run as a single-file Java
/// program so that no build tool is needed.
#[test]
fn pgjdbc_metadata_prepared_statements_and_batches() {
    let brook = Brook::start();
    let jar = std::env::var("BROOK_PGJDBC_JAR")
        .unwrap_or_else(|_| "/usr/share/java/postgresql.jar".to_string());
    assert!(
        std::path::Path::new(&jar).exists(),
        "pgJDBC is not at {jar} (scripts/test.sh installs libpostgresql-jdbc-java)"
    );
    let mut java = Command::new("java");
    java.args(["-cp", &jar])
        .arg(script("jdbc/BrookJdbc.java"))
        .arg(format!(
            "jdbc:postgresql://127.0.0.1:{}/brook?user=brook",
            brook.port()
        ));
    run_steps(
        &brook,
        java,
        &[
            "connect",
            "getTables",
            "getColumns",
            "getPrimaryKeys",
            "prepared",
            "batch",
            "errors",
        ],
    );
}

/// A row of every type, as a sqlx user maps it.
#[derive(sqlx::FromRow, Debug, PartialEq)]
struct Everything {
    id: i64,
    small: Option<i16>,
    whole: Option<i32>,
    flag: Option<bool>,
    ratio: Option<f32>,
    score: Option<f64>,
    name: Option<String>,
    born: Option<chrono::NaiveDate>,
    seen: Option<chrono::NaiveDateTime>,
    at: Option<chrono::DateTime<chrono::Utc>>,
    blob: Option<Vec<u8>>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlx_query_as_reads_every_type() {
    use chrono::{NaiveDate, TimeZone, Utc};
    let brook = Brook::start();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&brook.url())
        .await
        .expect("sqlx connects");
    sqlx::query(
        "CREATE TABLE everything (id bigint NOT NULL PRIMARY KEY, small smallint, whole integer, \
         flag boolean, ratio real, score double precision, name text, born date, \
         seen timestamp, at timestamptz, blob bytea)",
    )
    .execute(&pool)
    .await
    .expect("create");
    let full = Everything {
        id: 1,
        small: Some(-7),
        whole: Some(2_000_000_000),
        flag: Some(true),
        ratio: Some(0.25),
        score: Some(2.5),
        name: Some("ada ✓".into()),
        born: NaiveDate::from_ymd_opt(1815, 12, 10),
        seen: NaiveDate::from_ymd_opt(2024, 2, 29)
            .and_then(|d| d.and_hms_micro_opt(13, 45, 30, 123_456)),
        at: Utc.with_ymd_and_hms(2024, 3, 1, 8, 0, 0).single(),
        blob: Some(vec![0, 1, 0xfe, 0xff]),
    };
    let empty = Everything {
        id: 2,
        small: None,
        whole: None,
        flag: None,
        ratio: None,
        score: None,
        name: None,
        born: None,
        seen: None,
        at: None,
        blob: None,
    };
    for row in [&full, &empty] {
        let done = sqlx::query(
            "INSERT INTO everything VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(row.id)
        .bind(row.small)
        .bind(row.whole)
        .bind(row.flag)
        .bind(row.ratio)
        .bind(row.score)
        .bind(&row.name)
        .bind(row.born)
        .bind(row.seen)
        .bind(row.at)
        .bind(&row.blob)
        .execute(&pool)
        .await
        .expect("insert with every type bound");
        assert_eq!(done.rows_affected(), 1);
    }
    let rows: Vec<Everything> =
        sqlx::query_as("SELECT * FROM everything WHERE id >= $1 ORDER BY id")
            .bind(1_i64)
            .fetch_all(&pool)
            .await
            .expect("query_as");
    assert_eq!(rows, vec![full, empty]);
    let missing: Option<Everything> = sqlx::query_as("SELECT * FROM everything WHERE id = $1")
        .bind(3_i64)
        .fetch_optional(&pool)
        .await
        .expect("query_as with no row");
    assert_eq!(missing, None);
    let error = sqlx::query("SELECT nothing FROM everything")
        .execute(&pool)
        .await
        .expect_err("an unknown column fails");
    let code = error
        .as_database_error()
        .and_then(|e| e.code().map(|c| c.to_string()));
    assert_eq!(code.as_deref(), Some("42703"), "{error}");
}
