//! Real clients as their users drive them: psql, tokio-postgres (extended
//! protocol, binary parameters, COPY), Python psycopg, many sessions at once.

use std::process::Command;

use futures::SinkExt;
use tokio_postgres::types::Type;

use crate::support::Brook;

#[test]
fn psql_lists_and_describes_tables() {
    let brook = Brook::start();
    let (_, err, ok) = brook.psql(&[
        "-c",
        "CREATE TABLE people (id bigint NOT NULL, name text, score double precision DEFAULT 0)",
    ]);
    assert!(ok, "{err}");
    let (out, err, ok) = brook.psql(&["-c", "\\dt"]);
    assert!(ok, "{err}");
    assert!(out.contains("people"), "\\dt output:\n{out}");
    assert!(out.contains("public"), "\\dt output:\n{out}");

    let (out, err, ok) = brook.psql(&["-c", "\\d people"]);
    assert!(ok, "{err}");
    for expected in [
        "id",
        "bigint",
        "not null",
        "name",
        "text",
        "score",
        "double precision",
    ] {
        assert!(
            out.contains(expected),
            "\\d people lacks {expected}:\n{out}"
        );
    }
}

#[test]
fn psql_meta_commands_list_databases_views_schemas_functions() {
    let brook = Brook::start();
    let (_, err, ok) = brook.psql(&[
        "-c",
        "CREATE SCHEMA lab",
        "-c",
        "CREATE TABLE lab.t (x int)",
        "-c",
        "CREATE VIEW recent AS SELECT x FROM lab.t",
    ]);
    assert!(ok, "{err}");
    for (command, expected) in [
        ("\\l", "brook"),
        ("\\dv", "recent"),
        ("\\dn", "lab"),
        ("\\dt lab.*", "t"),
    ] {
        let (out, err, ok) = brook.psql(&["-c", command]);
        assert!(ok, "{command}: {err}");
        assert!(out.contains(expected), "{command} lacks {expected}:\n{out}");
    }
    let (out, err, ok) = brook.psql(&["-c", "\\df"]);
    assert!(ok, "\\df: {err}");
    assert!(out.contains("List of functions"), "{out}");
}

#[test]
fn psql_script_stops_at_the_first_error_with_its_sqlstate() {
    let brook = Brook::start();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("s.sql");
    std::fs::write(
        &script,
        "CREATE TABLE a (x int);\nINSERT INTO a VALUES (1);\nSELECT * FROM missing;\nINSERT INTO a VALUES (2);\n",
    )
    .unwrap();
    let (_, err, ok) = brook.psql(&["-v", "VERBOSITY=verbose", "-f", script.to_str().unwrap()]);
    assert!(!ok, "the script should fail");
    assert!(err.contains("42P01"), "{err}");
    assert!(err.contains("relation \"missing\" does not exist"), "{err}");
    assert!(err.contains("s.sql:3"), "error should name line 3: {err}");
    let (out, _, _) = brook.psql(&["-At", "-c", "SELECT count(*) FROM a"]);
    assert_eq!(out.trim(), "1", "only the statement before the error ran");
}

#[test]
fn psql_copy_from_a_csv_file_with_header() {
    let brook = Brook::start();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("rows.csv");
    std::fs::write(
        &csv,
        "id,name,joined\n1,ada,2024-01-02\n2,\"lovelace, countess\",\n",
    )
    .unwrap();
    brook.psql(&[
        "-c",
        "CREATE TABLE m (id int NOT NULL, name text, joined date)",
    ]);
    let (out, err, ok) = brook.psql(&[
        "-c",
        &format!(
            "\\copy m FROM '{}' WITH (FORMAT csv, HEADER)",
            csv.display()
        ),
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("COPY 2"), "{out}");
    let (out, _, _) = brook.psql(&[
        "-At",
        "-F",
        "|",
        "-c",
        "SELECT id, name, joined FROM m ORDER BY id",
    ]);
    assert_eq!(out, "1|ada|2024-01-02\n2|lovelace, countess|\n");
}

#[test]
fn ssl_request_is_declined_cleanly() {
    let brook = Brook::start();
    // sslmode=prefer (psql's default) sends SSLRequest first, takes the 'N' and goes on.
    let (out, err, ok) = brook.psql(&["-At", "-c", "SELECT 1"]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "1");
    let out = Command::new("psql")
        .arg(format!("{}?sslmode=require", brook.url()))
        .args(["-c", "SELECT 1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("SSL"), "{err}");
}

#[tokio::test]
async fn prepared_statements_with_binary_parameters_round_trip() {
    let brook = Brook::start();
    let client = brook.client().await;
    client
        .batch_execute(
            "CREATE TABLE typed (b boolean, s smallint, i int, l bigint, r real, d double precision, t text, v varchar(10), by bytea, dt date, ts timestamp)",
        )
        .await
        .unwrap();
    let insert = client
        .prepare_typed(
            "INSERT INTO typed VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &[
                Type::BOOL,
                Type::INT2,
                Type::INT4,
                Type::INT8,
                Type::FLOAT4,
                Type::FLOAT8,
                Type::TEXT,
                Type::VARCHAR,
                Type::BYTEA,
                Type::DATE,
                Type::TIMESTAMP,
            ],
        )
        .await
        .unwrap();
    let date = chrono::NaiveDate::from_ymd_opt(2024, 2, 29).unwrap();
    let ts = chrono::NaiveDate::from_ymd_opt(1999, 12, 31)
        .unwrap()
        .and_hms_micro_opt(23, 59, 58, 123_456)
        .unwrap();
    let n = client
        .execute(
            &insert,
            &[
                &true,
                &i16::MIN,
                &i32::MAX,
                &i64::MIN,
                &1.5f32,
                &-2.25f64,
                &"héllo",
                &"short",
                &vec![0u8, 255, 7],
                &date,
                &ts,
            ],
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    let row = client
        .query_one(
            "SELECT b, s, i, l, r, d, t, v, by, dt, ts FROM typed WHERE i = $1",
            &[&i32::MAX],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0));
    assert_eq!(row.get::<_, i16>(1), i16::MIN);
    assert_eq!(row.get::<_, i32>(2), i32::MAX);
    assert_eq!(row.get::<_, i64>(3), i64::MIN);
    assert_eq!(row.get::<_, f32>(4), 1.5);
    assert_eq!(row.get::<_, f64>(5), -2.25);
    assert_eq!(row.get::<_, &str>(6), "héllo");
    assert_eq!(row.get::<_, &str>(7), "short");
    assert_eq!(row.get::<_, Vec<u8>>(8), vec![0u8, 255, 7]);
    assert_eq!(row.get::<_, chrono::NaiveDate>(9), date);
    assert_eq!(row.get::<_, chrono::NaiveDateTime>(10), ts);
}

#[tokio::test]
async fn copy_in_through_tokio_postgres_is_one_commit() {
    let brook = Brook::start();
    let client = brook.client().await;
    client
        .batch_execute(
            "CREATE TABLE c (id int NOT NULL, label text DEFAULT 'none', x double precision)",
        )
        .await
        .unwrap();
    let sink = client
        .copy_in("COPY c (id, x) FROM STDIN (FORMAT csv)")
        .await
        .unwrap();
    futures::pin_mut!(sink);
    let mut data = String::new();
    for i in 0..10_000 {
        data.push_str(&format!("{i},{}.5\n", i % 7));
    }
    sink.send(bytes::Bytes::from(data)).await.unwrap();
    let rows = sink.finish().await.unwrap();
    assert_eq!(rows, 10_000);
    let row = client
        .query_one(
            "SELECT count(*), count(DISTINCT id), min(label), sum(x) FROM c",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 10_000);
    assert_eq!(row.get::<_, i64>(1), 10_000);
    assert_eq!(row.get::<_, &str>(2), "none");

    // A bad value on line 3 rejects the whole COPY: nothing new is committed.
    let sink = client
        .copy_in("COPY c (id, x) FROM STDIN (FORMAT csv)")
        .await
        .unwrap();
    futures::pin_mut!(sink);
    sink.send(bytes::Bytes::from_static(b"1,1\n2,2\nthree,3\n"))
        .await
        .unwrap();
    let err = sink.finish().await.unwrap_err();
    assert_eq!(crate::support::sqlstate(&err), "22P02", "{err}");
    assert!(crate::support::message(&err).contains("line"), "{err}");
    let n: i64 = client
        .query_one("SELECT count(*) FROM c", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 10_000);
}

#[test]
fn python_psycopg_parameters_and_copy() {
    let brook = Brook::start();
    let script = r#"
import sys, psycopg
with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    conn.execute("CREATE TABLE py (id int NOT NULL, name text, score double precision)")
    with conn.cursor() as cur:
        cur.execute("INSERT INTO py VALUES (%s, %s, %s)", (1, "ada", 9.5))
        cur.execute("INSERT INTO py VALUES (%s, %s, %s)", (2, None, 7.25))
        with cur.copy("COPY py (id, name, score) FROM STDIN (FORMAT csv, HEADER)") as copy:
            copy.write("id,name,score\n3,grace,8\n4,\"hopper, g\",6.5\n")
        cur.execute("SELECT id, name, score FROM py WHERE score > %s ORDER BY id", (6.0,))
        for row in cur.fetchall():
            print(row)
        cur.execute("SELECT count(*) FROM py")
        print("count", cur.fetchone()[0])
"#;
    let out = Command::new("python3")
        .args(["-c", script, &brook.url()])
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "psycopg script failed (is psycopg installed? .ci/run installs it):\n{stderr}\nlog:\n{}",
        brook.log()
    );
    assert_eq!(
        stdout,
        "(1, 'ada', 9.5)\n(2, None, 7.25)\n(3, 'grace', 8.0)\n(4, 'hopper, g', 6.5)\ncount 4\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_sessions_write_and_read_at_once() {
    let brook = Brook::start();
    brook
        .client()
        .await
        .batch_execute("CREATE TABLE shared (session int NOT NULL, n int NOT NULL)")
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for session in 0..16 {
        let client = brook.client().await;
        tasks.push(tokio::spawn(async move {
            for n in 0..20 {
                client
                    .execute("INSERT INTO shared VALUES ($1, $2)", &[&session, &n])
                    .await
                    .unwrap();
                let seen: i64 = client
                    .query_one(
                        "SELECT count(*) FROM shared WHERE session = $1",
                        &[&session],
                    )
                    .await
                    .unwrap()
                    .get(0);
                // Each session reads its own writes.
                assert_eq!(seen, i64::from(n) + 1);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let client = brook.client().await;
    let row = client
        .query_one("SELECT count(*), count(DISTINCT session) FROM shared", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 16 * 20);
    assert_eq!(row.get::<_, i64>(1), 16);
}

/// `UPDATE … RETURNING` with parameters on the extended protocol, as an
/// ORM sends it: the parameters typed from the columns, the returned
/// columns described before the statement runs, and what comes back is
/// what was stored (a `now()` set once, not evaluated again).
#[tokio::test]
async fn update_and_delete_returning_with_parameters_return_what_was_stored() {
    let brook = Brook::start();
    let client = brook.client().await;
    client
        .batch_execute(
            "CREATE TABLE items (id int PRIMARY KEY, name text, qty bigint, touched timestamptz);
             INSERT INTO items VALUES (1, 'pen', 5, NULL), (2, 'cup', 7, NULL)",
        )
        .await
        .unwrap();
    let update = client
        .prepare("UPDATE items SET qty = qty + $1, touched = now() WHERE id = $2 RETURNING id, qty, touched")
        .await
        .unwrap();
    assert_eq!(update.params(), &[Type::INT8, Type::INT4]);
    let described: Vec<(&str, Type)> = update
        .columns()
        .iter()
        .map(|c| (c.name(), c.type_().clone()))
        .collect();
    assert_eq!(
        described,
        vec![
            ("id", Type::INT4),
            ("qty", Type::INT8),
            ("touched", Type::TIMESTAMPTZ)
        ]
    );
    let rows = client.query(&update, &[&3i64, &2i32]).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].get::<_, i32>(0), rows[0].get::<_, i64>(1)),
        (2, 10)
    );
    let returned: std::time::SystemTime = rows[0].get(2);
    let stored: std::time::SystemTime = client
        .query_one("SELECT touched FROM items WHERE id = 2", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(returned, stored);
    let untouched = client
        .query_one("SELECT qty, touched IS NULL FROM items WHERE id = 1", &[])
        .await
        .unwrap();
    assert_eq!(
        (untouched.get::<_, i64>(0), untouched.get::<_, bool>(1)),
        (5, true)
    );

    let deleted = client
        .query("DELETE FROM items WHERE qty > $1 RETURNING name", &[&6i64])
        .await
        .unwrap();
    let names: Vec<String> = deleted.iter().map(|r| r.get(0)).collect();
    assert_eq!(names, vec!["cup".to_string()]);
    let left = client
        .query_one("SELECT count(*) FROM items", &[])
        .await
        .unwrap();
    assert_eq!(left.get::<_, i64>(0), 1);
}

#[tokio::test]
async fn update_and_delete_with_parameters_report_row_counts() {
    let brook = Brook::start();
    let client = brook.client().await;
    client
        .batch_execute("CREATE TABLE acct (id int NOT NULL, balance bigint NOT NULL)")
        .await
        .unwrap();
    for id in 0..10i32 {
        client
            .execute("INSERT INTO acct VALUES ($1, $2)", &[&id, &100i64])
            .await
            .unwrap();
    }
    let updated = client
        .execute(
            "UPDATE acct SET balance = balance + $1 WHERE id < $2",
            &[&5i64, &4i32],
        )
        .await
        .unwrap();
    assert_eq!(updated, 4);
    let deleted = client
        .execute("DELETE FROM acct WHERE id >= $1", &[&7i32])
        .await
        .unwrap();
    assert_eq!(deleted, 3);
    let row = client
        .query_one("SELECT count(*), sum(balance)::bigint FROM acct", &[])
        .await
        .unwrap();
    assert_eq!(
        (row.get::<_, i64>(0), row.get::<_, i64>(1)),
        (7, 7 * 100 + 4 * 5)
    );
}

#[test]
fn psql_tab_completion_expanded_display_and_copy_out() {
    let brook = Brook::start();
    let (_, err, ok) = brook.psql(&[
        "-c",
        "CREATE SCHEMA lab",
        "-c",
        "CREATE TABLE people (id bigint NOT NULL, nickname text)",
        "-c",
        "CREATE TABLE lab.readings (v int)",
        "-c",
        "INSERT INTO people VALUES (1, 'ada'), (2, 'grace, \"amazing\"')",
    ]);
    assert!(ok, "{err}");

    // Tab completion, typed into psql through a terminal.
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/psql_tab_completion.py"
        ))
        .args(["127.0.0.1", &brook.port().to_string()])
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "tab completion failed:\n{stdout}\n{}\nlog:\n{}",
        String::from_utf8_lossy(&out.stderr),
        brook.log()
    );
    for word in ["people", "nickname", "lab.readings"] {
        assert!(stdout.contains(&format!("ok {word}")), "{stdout}");
    }

    // \x: one record per block.
    let (out, err, ok) = brook.psql(&[
        "-c",
        "\\x",
        "-c",
        "SELECT id, nickname FROM people WHERE id = 1",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("-[ RECORD 1 ]"), "{out}");
    assert!(out.contains("nickname | ada"), "{out}");

    // \copy … TO a client-side file (COPY TO STDOUT underneath) and back in.
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("people.csv");
    let (out, err, ok) = brook.psql(&[
        "-c",
        &format!(
            "\\copy (SELECT id, nickname FROM people ORDER BY id) TO '{}' WITH (FORMAT csv, HEADER)",
            file.display()
        ),
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("COPY 2"), "{out}");
    let written = std::fs::read_to_string(&file).expect("psql wrote the file");
    assert_eq!(
        written,
        "id,nickname\n1,ada\n2,\"grace, \"\"amazing\"\"\"\n"
    );
    let (out, err, ok) = brook.psql(&[
        "-c",
        "CREATE TABLE people_copy (id bigint NOT NULL, nickname text)",
        "-c",
        &format!(
            "\\copy people_copy FROM '{}' WITH (FORMAT csv, HEADER)",
            file.display()
        ),
        "-c",
        "SELECT count(*) FROM people_copy p JOIN people q ON p.id = q.id AND p.nickname = q.nickname",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("COPY 2"), "{out}");
    assert!(out.contains("     2"), "{out}");

    // COPY … TO a server file outside the directories open to SQL is
    // refused, and writes nothing.
    let server_file = dir.path().join("server-side.csv");
    let (_, err, ok) = brook.psql(&["-c", &format!("COPY people TO '{}'", server_file.display())]);
    assert!(!ok);
    assert!(err.contains("outside the directories open to SQL"), "{err}");
    assert!(!server_file.exists());
}
