//! Transactions over the wire: what a BEGIN … COMMIT block promises a
//! PostgreSQL user (docs/transactions.md), seen from real clients.

use tokio_postgres::{Client, SimpleQueryMessage};

use crate::support::{Brook, count, message, python, sqlstate};

/// The command tags a simple query answered with, and its first error.
async fn tags(client: &Client, sql: &str) -> (Vec<String>, Option<String>) {
    match client.simple_query(sql).await {
        Ok(messages) => (
            messages
                .iter()
                .filter_map(|m| match m {
                    SimpleQueryMessage::CommandComplete(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect(),
            None,
        ),
        Err(e) => (vec![], Some(format!("{} {}", sqlstate(&e), message(&e)))),
    }
}

async fn ids(client: &Client, table: &str) -> Vec<i64> {
    client
        .query(&format!("SELECT id FROM {table} ORDER BY id"), &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, i64>(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_undoes_and_commit_publishes_everything_at_once() {
    let brook = Brook::start();
    let client = brook.client().await;
    let other = brook.client().await;
    client
        .batch_execute(
            "CREATE TABLE a (id BIGINT NOT NULL, v TEXT); CREATE TABLE b (id BIGINT NOT NULL)",
        )
        .await
        .unwrap();
    client
        .batch_execute("INSERT INTO a VALUES (1, 'one'), (2, 'two'); INSERT INTO b VALUES (10)")
        .await
        .unwrap();

    // ROLLBACK undoes an INSERT, an UPDATE and a DELETE over two tables.
    client
        .batch_execute(
            "BEGIN; INSERT INTO a VALUES (3, 'three'); UPDATE a SET v = 'uno' WHERE id = 1; \
             DELETE FROM b WHERE id = 10",
        )
        .await
        .unwrap();
    // Its own writes are visible to it, and to nobody else.
    assert_eq!(ids(&client, "a").await, vec![1, 2, 3]);
    assert_eq!(count(&client, "SELECT count(*) FROM b").await, 0);
    assert_eq!(ids(&other, "a").await, vec![1, 2]);
    assert_eq!(count(&other, "SELECT count(*) FROM b").await, 1);
    client.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(ids(&client, "a").await, vec![1, 2]);
    assert_eq!(
        count(&client, "SELECT count(*) FROM a WHERE v = 'one'").await,
        1
    );
    assert_eq!(ids(&client, "b").await, vec![10]);

    // COMMIT publishes all of it to the other session at once.
    client
        .batch_execute(
            "BEGIN; INSERT INTO a VALUES (3, 'three'); UPDATE a SET v = 'uno' WHERE id = 1; \
             DELETE FROM b WHERE id = 10; INSERT INTO b VALUES (11)",
        )
        .await
        .unwrap();
    assert_eq!(ids(&other, "b").await, vec![10]);
    client.batch_execute("COMMIT").await.unwrap();
    assert_eq!(ids(&other, "a").await, vec![1, 2, 3]);
    assert_eq!(
        count(&other, "SELECT count(*) FROM a WHERE v = 'uno'").await,
        1
    );
    assert_eq!(ids(&other, "b").await, vec![11]);

    // A COPY inside a block is rolled back with it.
    client.batch_execute("BEGIN").await.unwrap();
    let sink = client
        .copy_in("COPY b (id) FROM STDIN")
        .await
        .expect("COPY starts");
    futures::pin_mut!(sink);
    futures::SinkExt::send(&mut sink, bytes::Bytes::from_static(b"20\n21\n"))
        .await
        .unwrap();
    assert_eq!(sink.finish().await.unwrap(), 2);
    assert_eq!(ids(&client, "b").await, vec![11, 20, 21]);
    client.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(ids(&client, "b").await, vec![11]);

    // The whole block in one simple-query message.
    let (done, err) = tags(&client, "BEGIN; INSERT INTO b VALUES (12); ROLLBACK").await;
    assert_eq!(err, None);
    assert_eq!(done.len(), 3, "{done:?}");
    assert_eq!(ids(&client, "b").await, vec![11]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_an_error_only_the_end_of_the_block_is_heard() {
    let brook = Brook::start();
    let client = brook.client().await;
    client
        .batch_execute("CREATE TABLE t (id BIGINT NOT NULL)")
        .await
        .unwrap();
    client
        .batch_execute("BEGIN; INSERT INTO t VALUES (1)")
        .await
        .unwrap();
    assert!(client.batch_execute("SELECT * FROM nope").await.is_err());
    let err = client.batch_execute("SELECT 1").await.unwrap_err();
    assert_eq!(sqlstate(&err), "25P02");
    assert_eq!(
        message(&err),
        "current transaction is aborted, commands ignored until end of transaction block"
    );
    let err = client
        .batch_execute("INSERT INTO t VALUES (2)")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "25P02");
    // COMMIT of a failed block rolls it back, and says so.
    let (done, err) = tags(&client, "COMMIT").await;
    assert_eq!(err, None);
    assert_eq!(done.len(), 1);
    assert_eq!(count(&client, "SELECT count(*) FROM t").await, 0);
    let script = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        script.path(),
        "BEGIN;\nINSERT INTO t VALUES (1);\nSELECT * FROM nope;\nCOMMIT;\n",
    )
    .unwrap();
    let (out, _, _) = brook.psql(&[
        "-v",
        "ON_ERROR_STOP=0",
        "-f",
        &script.path().to_string_lossy(),
    ]);
    assert!(out.ends_with("ROLLBACK\n"), "{out}");
    assert_eq!(count(&client, "SELECT count(*) FROM t").await, 0);

    // Savepoints: ROLLBACK TO undoes what came after, RELEASE keeps it.
    client
        .batch_execute(
            "BEGIN; INSERT INTO t VALUES (1); SAVEPOINT s; INSERT INTO t VALUES (2); \
             SAVEPOINT s2; DELETE FROM t WHERE id = 1; ROLLBACK TO SAVEPOINT s2",
        )
        .await
        .unwrap();
    assert_eq!(ids(&client, "t").await, vec![1, 2]);
    client
        .batch_execute("ROLLBACK TO SAVEPOINT s; INSERT INTO t VALUES (3); RELEASE s; COMMIT")
        .await
        .unwrap();
    assert_eq!(ids(&client, "t").await, vec![1, 3]);
    let err = client
        .batch_execute("BEGIN; ROLLBACK TO SAVEPOINT missing")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "3B001");
    client.batch_execute("ROLLBACK").await.unwrap();
    let err = client.batch_execute("SAVEPOINT s").await.unwrap_err();
    assert_eq!(sqlstate(&err), "25P01");

    // SERIALIZABLE is refused, not silently downgraded.
    let err = client
        .batch_execute("BEGIN ISOLATION LEVEL SERIALIZABLE")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "0A000");

    // A schema change takes part: ROLLBACK undoes the table with the rows.
    client
        .batch_execute("BEGIN; INSERT INTO t VALUES (4); CREATE TABLE u (x int)")
        .await
        .unwrap();
    client.batch_execute("ROLLBACK").await.unwrap();
    client
        .batch_execute("INSERT INTO t VALUES (5)")
        .await
        .unwrap();
    assert_eq!(ids(&client, "t").await, vec![1, 3, 5]);
    let err = client.batch_execute("SELECT * FROM u").await.unwrap_err();
    assert_eq!(sqlstate(&err), "42P01");
}

/// CREATE TABLE, CREATE TABLE AS, DROP TABLE, TRUNCATE and views inside a
/// block: the session sees them at once, nobody else before COMMIT, and a
/// ROLLBACK leaves nothing of them (files and serial sequences included).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_changes_take_part_in_transactions() {
    let brook = Brook::start();
    let client = brook.client().await;
    let other = brook.client().await;
    client
        .batch_execute(
            "CREATE TABLE keep (id BIGINT NOT NULL); INSERT INTO keep VALUES (1), (2); \
             CREATE TABLE gone (id BIGINT NOT NULL); INSERT INTO gone VALUES (7)",
        )
        .await
        .unwrap();
    let tables_dir = brook.data_dir().join("tables");
    let dirs = || std::fs::read_dir(&tables_dir).unwrap().count();
    let before = dirs();

    // Created, filled, read and indexed by name in the block; invisible outside.
    client
        .batch_execute(
            "BEGIN; CREATE TABLE fresh (id bigserial PRIMARY KEY, v text); \
             INSERT INTO fresh (v) VALUES ('a'), ('b'); \
             CREATE TABLE copy AS SELECT id * 10 AS id FROM keep; \
             CREATE VIEW both_ids AS SELECT id FROM fresh UNION ALL SELECT id FROM copy; \
             DROP TABLE gone; TRUNCATE keep",
        )
        .await
        .unwrap();
    assert_eq!(ids(&client, "both_ids").await, vec![1, 2, 10, 20]);
    assert_eq!(count(&client, "SELECT count(*) FROM keep").await, 0);
    let err = client
        .batch_execute("SELECT * FROM gone")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42P01");
    for missing in ["fresh", "copy", "both_ids"] {
        let err = other
            .batch_execute(&format!("SELECT * FROM {missing}"))
            .await
            .unwrap_err();
        assert_eq!(sqlstate(&err), "42P01", "{missing}");
    }
    assert_eq!(ids(&other, "gone").await, vec![7]);
    assert_eq!(ids(&other, "keep").await, vec![1, 2]);

    // ROLLBACK: all of it undone, its files and its sequence gone.
    client.batch_execute("ROLLBACK").await.unwrap();
    for missing in ["fresh", "copy", "both_ids"] {
        let err = client
            .batch_execute(&format!("SELECT * FROM {missing}"))
            .await
            .unwrap_err();
        assert_eq!(sqlstate(&err), "42P01", "{missing}");
    }
    assert_eq!(ids(&client, "gone").await, vec![7]);
    assert_eq!(ids(&client, "keep").await, vec![1, 2]);
    let err = client
        .batch_execute("SELECT nextval('fresh_id_seq')")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42P01");
    assert_eq!(dirs(), before, "the rolled-back tables' files remain");

    // The same block committed: everything at once, for everyone.
    client
        .batch_execute(
            "BEGIN; CREATE TABLE fresh (id bigserial PRIMARY KEY, v text); \
             INSERT INTO fresh (v) VALUES ('a'), ('b'); \
             CREATE TABLE copy AS SELECT id * 10 AS id FROM keep; \
             CREATE VIEW both_ids AS SELECT id FROM fresh UNION ALL SELECT id FROM copy; \
             DROP TABLE gone; TRUNCATE keep; COMMIT",
        )
        .await
        .unwrap();
    assert_eq!(ids(&other, "both_ids").await, vec![1, 2, 10, 20]);
    assert_eq!(count(&other, "SELECT count(*) FROM keep").await, 0);
    let err = other.batch_execute("SELECT * FROM gone").await.unwrap_err();
    assert_eq!(sqlstate(&err), "42P01");
    // The serial column goes on from where the block left it.
    other
        .batch_execute("INSERT INTO fresh (v) VALUES ('c')")
        .await
        .unwrap();
    assert_eq!(ids(&other, "fresh").await, vec![1, 2, 3]);

    // ROLLBACK TO SAVEPOINT undoes the schema changes after it only.
    client
        .batch_execute(
            "BEGIN; CREATE TABLE s1 (id BIGINT); SAVEPOINT sp; CREATE TABLE s2 (id BIGINT); \
             DROP TABLE fresh; ROLLBACK TO SAVEPOINT sp; COMMIT",
        )
        .await
        .unwrap();
    assert_eq!(count(&other, "SELECT count(*) FROM s1").await, 0);
    assert_eq!(ids(&other, "fresh").await, vec![1, 2, 3]);
    let err = other.batch_execute("SELECT * FROM s2").await.unwrap_err();
    assert_eq!(sqlstate(&err), "42P01");

    // A name another session took first: COMMIT fails and applies nothing.
    client
        .batch_execute("BEGIN; INSERT INTO keep VALUES (9); CREATE TABLE race (id BIGINT)")
        .await
        .unwrap();
    other
        .batch_execute("CREATE TABLE race (other text)")
        .await
        .unwrap();
    let err = client.batch_execute("COMMIT").await.unwrap_err();
    assert_eq!(sqlstate(&err), "42P07", "{}", message(&err));
    assert_eq!(count(&other, "SELECT count(*) FROM keep").await, 0);
    assert_eq!(
        count(
            &other,
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'race'"
        )
        .await,
        1
    );

    // A schema made in a block is no one else's until COMMIT: they cannot
    // create tables in it.
    client
        .batch_execute("BEGIN; CREATE SCHEMA elsewhere")
        .await
        .unwrap();
    let err = other
        .batch_execute("CREATE TABLE elsewhere.t (x int)")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "3F000", "{}", message(&err));
    client
        .batch_execute("CREATE TABLE elsewhere.t (x int); COMMIT")
        .await
        .unwrap();
    assert_eq!(count(&other, "SELECT count(*) FROM elsewhere.t").await, 0);

    // What cannot take part is refused inside a block, before it does anything.
    client.batch_execute("BEGIN").await.unwrap();
    let err = client
        .batch_execute("CREATE PIPELINE p AS LOAD DATA KAFKA 'localhost:1/x' INTO TABLE keep")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "25001", "{}", message(&err));
    client.batch_execute("ROLLBACK").await.unwrap();
    // A schema that exists already is fine (dbt's `create schema if not exists`).
    client
        .batch_execute("BEGIN; CREATE SCHEMA IF NOT EXISTS public; COMMIT")
        .await
        .unwrap();
}

/// A client that goes away inside a block takes its schema changes with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnect_rolls_back_a_created_table() {
    let brook = Brook::start();
    let before = std::fs::read_dir(brook.data_dir().join("tables"))
        .unwrap()
        .count();
    {
        let client = brook.client().await;
        client
            .batch_execute("BEGIN; CREATE TABLE left_behind (id serial, v text); INSERT INTO left_behind (v) VALUES ('x')")
            .await
            .unwrap();
    }
    let client = brook.client().await;
    let mut waited = 0;
    loop {
        let dirs = std::fs::read_dir(brook.data_dir().join("tables"))
            .unwrap()
            .count();
        if dirs == before || waited > 100 {
            assert_eq!(dirs, before, "the files of the abandoned table remain");
            break;
        }
        waited += 1;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let err = client
        .batch_execute("SELECT * FROM left_behind")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42P01");
    client
        .batch_execute("CREATE TABLE left_behind (id serial, v text)")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_to_savepoint_recovers_a_failed_block_and_a_failed_commit_ends_it() {
    let brook = Brook::start();
    let client = brook.client().await;
    client
        .batch_execute("CREATE TABLE t (id BIGINT NOT NULL, v BIGINT NOT NULL)")
        .await
        .unwrap();
    client
        .batch_execute(
            "BEGIN; INSERT INTO t VALUES (1, 0); SAVEPOINT s; INSERT INTO t VALUES (2, 0)",
        )
        .await
        .unwrap();
    let err = client
        .batch_execute("SELECT * FROM nope")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42P01");
    // Over the simple protocol: the error undone, the block goes on.
    client
        .batch_execute("ROLLBACK TO SAVEPOINT s")
        .await
        .unwrap();
    client
        .batch_execute("INSERT INTO t VALUES (3, 0)")
        .await
        .unwrap();
    // And over the extended protocol (a statement that fails to parse).
    client.batch_execute("SAVEPOINT e").await.unwrap();
    let err = client
        .execute("SELECT * FROM nope WHERE x = $1", &[&1i64])
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42P01");
    let err = client.execute("SELECT 1", &[]).await.unwrap_err();
    assert_eq!(sqlstate(&err), "25P02");
    client
        .execute("ROLLBACK TO SAVEPOINT e", &[])
        .await
        .unwrap();
    client
        .execute("INSERT INTO t VALUES ($1, 0)", &[&4i64])
        .await
        .unwrap();
    client.batch_execute("COMMIT").await.unwrap();
    assert_eq!(ids(&client, "t").await, vec![1, 3, 4]);

    // Two blocks update the same row: the second COMMIT fails with 40001,
    // and its session is then idle, not in a failed block.
    let other = brook.client().await;
    for c in [&client, &other] {
        c.batch_execute("BEGIN; UPDATE t SET v = v + 1 WHERE id = 1")
            .await
            .unwrap();
    }
    client.batch_execute("COMMIT").await.unwrap();
    let err = other.batch_execute("COMMIT").await.unwrap_err();
    assert_eq!(sqlstate(&err), "40001");
    other.batch_execute("SELECT 1").await.unwrap();
    let (done, err) = tags(&other, "BEGIN; UPDATE t SET v = v + 1 WHERE id = 1; COMMIT").await;
    assert_eq!(err, None);
    assert_eq!(done, ["0", "1", "0"], "BEGIN, UPDATE 1, COMMIT");
    assert_eq!(count(&client, "SELECT v FROM t WHERE id = 1").await, 2);

    // What a driver sees in ReadyForQuery, and psycopg's nested blocks
    // around a statement that fails.
    let script = format!(
        "import psycopg\n\
         c = psycopg.connect('{0}', autocommit=True)\n\
         s = lambda: c.info.transaction_status.name\n\
         c.execute('BEGIN'); c.execute('SAVEPOINT a')\n\
         try:\n\
         \x20   c.execute('SELECT * FROM nope')\n\
         except psycopg.Error as e:\n\
         \x20   print(e.sqlstate, s())\n\
         c.execute('ROLLBACK TO SAVEPOINT a'); print(s())\n\
         c.execute('COMMIT'); print(s())\n\
         d = psycopg.connect('{0}')\n\
         with d.transaction():\n\
         \x20   d.execute('INSERT INTO t VALUES (5, 0)')\n\
         \x20   try:\n\
         \x20       with d.transaction():\n\
         \x20           d.execute('INSERT INTO t VALUES (6, 0)')\n\
         \x20           d.execute('SELECT * FROM nope')\n\
         \x20   except psycopg.errors.UndefinedTable:\n\
         \x20       pass\n\
         \x20   d.execute('INSERT INTO t VALUES (7, 0)')\n\
         print(sorted(r[0] for r in d.execute('SELECT id FROM t').fetchall()))\n",
        brook.conn_string(),
    );
    let (stdout, stderr) = python(&script);
    assert_eq!(
        stdout, "42P01 INERROR\nINTRANS\nIDLE\n[1, 3, 4, 5, 7]\n",
        "{}",
        stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_reads_one_snapshot() {
    let brook = Brook::start();
    let reader = brook.client().await;
    let writer = brook.client().await;
    reader
        .batch_execute("CREATE TABLE t (id BIGINT NOT NULL); INSERT INTO t VALUES (1)")
        .await
        .unwrap();
    reader.batch_execute("BEGIN").await.unwrap();
    // The snapshot is taken at the first statement, not at BEGIN.
    writer
        .batch_execute("INSERT INTO t VALUES (2)")
        .await
        .unwrap();
    assert_eq!(ids(&reader, "t").await, vec![1, 2]);
    writer
        .batch_execute("INSERT INTO t VALUES (3); DELETE FROM t WHERE id = 1")
        .await
        .unwrap();
    assert_eq!(ids(&reader, "t").await, vec![1, 2]);
    reader.batch_execute("COMMIT").await.unwrap();
    assert_eq!(ids(&reader, "t").await, vec![2, 3]);
}

/// Two sessions add 1 to a counter 1,000 times each: under autocommit
/// (`SET v = v + 1`) and as read-then-write transactions that retry on
/// 40001. No increment may be lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_increments_are_never_lost() {
    const N: i64 = 1_000;
    let brook = Brook::start();
    let setup = brook.client().await;
    setup
        .batch_execute(
            "CREATE TABLE counter (id BIGINT NOT NULL, v BIGINT NOT NULL); \
             INSERT INTO counter VALUES (1, 0)",
        )
        .await
        .unwrap();
    let mut tasks = vec![];
    for _ in 0..2 {
        let client = brook.client().await;
        tasks.push(tokio::spawn(async move {
            for _ in 0..N {
                client
                    .batch_execute("UPDATE counter SET v = v + 1 WHERE id = 1")
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(count(&setup, "SELECT v FROM counter").await, 2 * N);

    let mut tasks = vec![];
    for _ in 0..2 {
        let client = brook.client().await;
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0;
            for _ in 0..N {
                loop {
                    client.batch_execute("BEGIN").await.unwrap();
                    let v = count(&client, "SELECT v FROM counter WHERE id = 1").await;
                    client
                        .batch_execute(&format!("UPDATE counter SET v = {} WHERE id = 1", v + 1))
                        .await
                        .unwrap();
                    match client.batch_execute("COMMIT").await {
                        Ok(()) => break,
                        Err(e) => {
                            assert_eq!(sqlstate(&e), "40001", "{}", message(&e));
                            assert_eq!(
                                message(&e),
                                "could not serialize access due to concurrent update"
                            );
                            conflicts += 1;
                            client.batch_execute("ROLLBACK").await.unwrap();
                        }
                    }
                }
            }
            conflicts
        }));
    }
    let mut conflicts = 0;
    for task in tasks {
        conflicts += task.await.unwrap();
    }
    assert_eq!(count(&setup, "SELECT v FROM counter").await, 4 * N);
    eprintln!("{conflicts} commits answered 40001 and were retried");
}

#[test]
fn drivers_that_wrap_work_in_transactions_roll_back() {
    let brook = Brook::start();
    let script = format!(
        "import psycopg\n\
         with psycopg.connect('{0}') as c:\n\
         \x20   c.execute('CREATE TABLE t (id bigint)')\n\
         \x20   c.commit()\n\
         \x20   c.execute('INSERT INTO t VALUES (1)')\n\
         \x20   c.commit()\n\
         \x20   c.execute('INSERT INTO t VALUES (2)')\n\
         \x20   c.rollback()\n\
         \x20   with c.transaction():\n\
         \x20       c.execute('INSERT INTO t VALUES (3)')\n\
         \x20       try:\n\
         \x20           with c.transaction():\n\
         \x20               c.execute('INSERT INTO t VALUES (4)')\n\
         \x20               raise RuntimeError('undo the inner block')\n\
         \x20       except RuntimeError:\n\
         \x20           pass\n\
         \x20   print(sorted(r[0] for r in c.execute('SELECT id FROM t').fetchall()))\n\
         import sqlalchemy as sa\n\
         engine = sa.create_engine('{1}')\n\
         with engine.connect() as conn:\n\
         \x20   conn.execute(sa.text('INSERT INTO t VALUES (5)'))\n\
         \x20   conn.rollback()\n\
         \x20   conn.execute(sa.text('INSERT INTO t VALUES (6)'))\n\
         \x20   conn.commit()\n\
         \x20   print(sorted(r[0] for r in conn.execute(sa.text('SELECT id FROM t'))))\n",
        brook.conn_string(),
        brook
            .url()
            .replacen("postgresql://", "postgresql+psycopg://", 1),
    );
    let (stdout, stderr) = python(&script);
    assert!(stdout.contains("[1, 3]\n[1, 3, 6]"), "{stdout}{}", stderr);
    let (out, err, ok) = brook.psql(&[
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        "\\set AUTOCOMMIT off",
        "-c",
        "INSERT INTO t VALUES (7)",
        "-c",
        "ROLLBACK",
        "-c",
        "SELECT count(*) FROM t WHERE id = 7",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains(" 0\n"), "{out}");
}

/// Two sessions count into one row with `INSERT … ON CONFLICT DO UPDATE`
/// (the first one inserts it): every increment lands once, whichever
/// session loses a race is told so (40001 or 23505) and retries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_upserts_never_lose_an_increment() {
    const N: i64 = 100;
    let brook = Brook::start();
    let setup = brook.client().await;
    setup
        .batch_execute("CREATE TABLE hits (page TEXT PRIMARY KEY, n BIGINT NOT NULL)")
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let client = brook.client().await;
        tasks.push(tokio::spawn(async move {
            let mut retries = 0;
            for _ in 0..N {
                loop {
                    let result = client
                        .execute(
                            "INSERT INTO hits VALUES ($1, 1) ON CONFLICT (page) \
                             DO UPDATE SET n = hits.n + excluded.n",
                            &[&"home"],
                        )
                        .await;
                    match result {
                        Ok(rows) => {
                            assert_eq!(rows, 1);
                            break;
                        }
                        Err(e) if ["40001", "23505"].contains(&sqlstate(&e).as_str()) => {
                            retries += 1;
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            retries
        }));
    }
    let mut retries = 0;
    for task in tasks {
        retries += task.await.unwrap();
    }
    assert_eq!(
        count(&setup, "SELECT n FROM hits WHERE page = 'home'").await,
        2 * N
    );
    assert_eq!(count(&setup, "SELECT count(*) FROM hits").await, 1);
    eprintln!("{retries} upserts lost a race and were retried");
}

/// What SQLAlchemy sends for an ORM insert that reads back its rows and
/// for a PostgreSQL upsert (extended protocol, psycopg 3).
#[test]
fn sqlalchemy_upserts_and_reads_back_what_it_wrote() {
    let brook = Brook::start();
    let script = format!(
        "import sqlalchemy as sa\n\
         from sqlalchemy.dialects.postgresql import insert\n\
         eng = sa.create_engine('{0}')\n\
         md = sa.MetaData()\n\
         items = sa.Table('items', md, sa.Column('id', sa.BigInteger, primary_key=True, autoincrement=False), sa.Column('name', sa.Text), sa.Column('qty', sa.Integer))\n\
         md.create_all(eng)\n\
         with eng.begin() as c:\n\
         \x20   print(c.execute(items.insert().values(id=1, name='one', qty=1).returning(items.c.id, items.c.name)).fetchall())\n\
         with eng.begin() as c:\n\
         \x20   s = insert(items).values([dict(id=1, name='uno', qty=5), dict(id=2, name='two', qty=2)])\n\
         \x20   s = s.on_conflict_do_update(index_elements=['id'], set_=dict(qty=items.c.qty + s.excluded.qty)).returning(items.c.id, items.c.qty)\n\
         \x20   print(c.execute(s).fetchall())\n\
         with eng.begin() as c:\n\
         \x20   c.execute(insert(items).values(id=2, name='x', qty=0).on_conflict_do_nothing())\n\
         with eng.connect() as c:\n\
         \x20   print(c.execute(sa.select(items).order_by(items.c.id)).fetchall())\n",
        brook
            .url()
            .replacen("postgresql://", "postgresql+psycopg://", 1),
    );
    let (stdout, stderr) = python(&script);
    assert_eq!(
        stdout, "[(1, 'one')]\n[(1, 6), (2, 2)]\n[(1, 'one', 6), (2, 'two', 2)]\n",
        "{}",
        stderr
    );
}
