//! Answers that used to differ silently from PostgreSQL's (issue #19), each
//! now PostgreSQL's answer or a clear error, over the wire.

use tokio_postgres::{Client, SimpleQueryMessage};

use crate::support::{Brook, count, message, sqlstate};

async fn ids(client: &Client, sql: &str) -> Vec<i64> {
    client
        .query(sql, &[])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .iter()
        .map(|r| r.get::<_, i64>(0))
        .collect()
}

async fn fill(client: &Client) {
    client
        .batch_execute(
            "CREATE TABLE t (id BIGINT, v TEXT);
             INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, 'd'), (5, 'e');
             CREATE TABLE keep (id BIGINT);
             INSERT INTO keep VALUES (2), (4), (NULL);",
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_and_delete_with_subqueries_change_only_the_matching_rows() {
    let brook = Brook::start();
    let client = brook.client().await;
    fill(&client).await;

    // DELETE … WHERE id IN (SELECT …): one row, not all five.
    let n = client
        .execute(
            "DELETE FROM t WHERE id IN (SELECT id FROM keep WHERE id = 2)",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        ids(&client, "SELECT id FROM t ORDER BY id").await,
        [1, 3, 4, 5]
    );

    // UPDATE … WHERE id IN (SELECT …).
    let n = client
        .execute(
            "UPDATE t SET v = 'kept' WHERE id IN (SELECT id FROM keep)",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        count(&client, "SELECT count(*) FROM t WHERE v = 'kept'").await,
        1
    );

    // NOT IN over a subquery with a NULL matches nothing in PostgreSQL;
    // Brook refuses it rather than deleting rows.
    let err = client
        .execute("DELETE FROM t WHERE id NOT IN (SELECT id FROM keep)", &[])
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "0A000", "{}", message(&err));
    let n = client
        .execute(
            "DELETE FROM t WHERE id NOT IN (SELECT id FROM keep WHERE id IS NOT NULL) AND id > 4",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    client
        .execute("INSERT INTO t VALUES (5, 'e')", &[])
        .await
        .unwrap();

    // EXISTS that is false deletes nothing; one that is true deletes all.
    let n = client
        .execute(
            "DELETE FROM t WHERE EXISTS (SELECT 1 FROM keep WHERE id = 99)",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(n, 0);
    assert_eq!(count(&client, "SELECT count(*) FROM t").await, 4);

    // A WHERE that is false changes nothing (DataFusion drops it).
    let n = client
        .execute("DELETE FROM t WHERE 1 = 0", &[])
        .await
        .unwrap();
    assert_eq!(n, 0);
    assert_eq!(count(&client, "SELECT count(*) FROM t").await, 4);

    // A scalar subquery, and an empty IN.
    let n = client
        .execute("DELETE FROM t WHERE id = (SELECT max(id) FROM keep)", &[])
        .await
        .unwrap();
    assert_eq!(n, 1);
    let n = client
        .execute(
            "DELETE FROM t WHERE id IN (SELECT id FROM keep WHERE false)",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(n, 0);
    assert_eq!(
        ids(&client, "SELECT id FROM t ORDER BY id").await,
        [1, 3, 5]
    );

    // The same through the extended protocol with a parameter.
    let n = client
        .execute(
            "UPDATE t SET v = 'p' WHERE id IN (SELECT id + $1 FROM keep WHERE id = 2)",
            &[&1i64],
        )
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(ids(&client, "SELECT id FROM t WHERE v = 'p'").await, [3]);

    // A subquery returning two rows where one value is needed: 21000.
    let err = client
        .execute(
            "DELETE FROM t WHERE id = (SELECT id FROM keep WHERE id IS NOT NULL)",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "21000", "{}", message(&err));

    // A correlated subquery is refused, not applied to every row.
    let err = client
        .execute(
            "DELETE FROM t WHERE EXISTS (SELECT 1 FROM keep k WHERE k.id = t.id)",
            &[],
        )
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "0A000", "{}", message(&err));
    assert!(message(&err).contains("correlated"), "{}", message(&err));
    // Nothing changed by the refused statements.
    assert_eq!(
        ids(&client, "SELECT id FROM t ORDER BY id").await,
        [1, 3, 5]
    );
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_never_claims_to_undo_what_was_committed() {
    let brook = Brook::start();
    let client = brook.client().await;
    client
        .batch_execute("CREATE TABLE t (id BIGINT)")
        .await
        .unwrap();

    // A block that only reads rolls back as usual.
    client.batch_execute("BEGIN").await.unwrap();
    assert_eq!(count(&client, "SELECT count(*) FROM t").await, 0);
    client.batch_execute("ROLLBACK").await.unwrap();

    // A block that wrote: ROLLBACK is an error saying the rows stay.
    client.batch_execute("BEGIN").await.unwrap();
    client
        .batch_execute("INSERT INTO t VALUES (1)")
        .await
        .unwrap();
    let err = client.batch_execute("ROLLBACK").await.unwrap_err();
    assert_eq!(sqlstate(&err), "0A000");
    assert!(
        message(&err).contains("cannot undo 1 statement"),
        "{}",
        message(&err)
    );
    // The block is now failed; a second ROLLBACK ends it.
    let err = client.batch_execute("SELECT 1").await.unwrap_err();
    assert_eq!(sqlstate(&err), "25P02");
    client.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(count(&client, "SELECT count(*) FROM t").await, 1);

    // COMMIT after an error: PostgreSQL would discard the first INSERT; Brook
    // cannot, and says so instead of answering ROLLBACK.
    client.batch_execute("BEGIN").await.unwrap();
    client
        .batch_execute("INSERT INTO t VALUES (2)")
        .await
        .unwrap();
    assert!(client.batch_execute("SELECT * FROM nope").await.is_err());
    let err = client.batch_execute("COMMIT").await.unwrap_err();
    assert_eq!(sqlstate(&err), "0A000");
    assert!(
        message(&err).contains("already committed"),
        "{}",
        message(&err)
    );
    client.batch_execute("ROLLBACK").await.unwrap();

    // A block that commits is honest as it is.
    client.batch_execute("BEGIN").await.unwrap();
    client
        .batch_execute("INSERT INTO t VALUES (3)")
        .await
        .unwrap();
    client.batch_execute("COMMIT").await.unwrap();
    assert_eq!(count(&client, "SELECT count(*) FROM t").await, 3);

    // All in one simple-query message.
    let (done, err) = tags(&client, "BEGIN; INSERT INTO t VALUES (4); ROLLBACK").await;
    assert!(done.is_empty(), "{done:?}");
    let err = err.expect("the ROLLBACK is refused");
    assert!(err.starts_with("0A000"), "{err}");
    client.batch_execute("ROLLBACK").await.unwrap();

    // ROLLBACK TO SAVEPOINT over a write is refused the same way.
    client.batch_execute("BEGIN; SAVEPOINT s").await.unwrap();
    client
        .batch_execute("INSERT INTO t VALUES (5)")
        .await
        .unwrap();
    let err = client
        .batch_execute("ROLLBACK TO SAVEPOINT s")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "0A000");
    client.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(count(&client, "SELECT count(*) FROM t").await, 5);

    // psycopg's default mode (a block around every statement) still works.
    let script = format!(
        "import psycopg\n\
         with psycopg.connect('{}') as c:\n\
         \x20   c.execute('INSERT INTO t VALUES (6)')\n\
         \x20   c.commit()\n\
         \x20   c.execute('INSERT INTO t VALUES (7)')\n\
         \x20   try:\n\
         \x20       c.rollback()\n\
         \x20       print('rolled back')\n\
         \x20   except psycopg.errors.FeatureNotSupported as e:\n\
         \x20       print('refused:', e.sqlstate)\n",
        brook.conn_string()
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("refused: 0A000"),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(count(&client, "SELECT count(*) FROM t").await, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_in_one_message_apply_to_the_statements_after_them() {
    let brook = Brook::start();
    let client = brook.client().await;
    let err = client
        .simple_query(
            "SET statement_timeout = '50ms'; \
             SELECT count(*) FROM generate_series(1, 50000000000) a",
        )
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "57014", "{}", message(&err));
    assert!(message(&err).contains("statement timeout"));
    client
        .simple_query("SET statement_timeout = 0")
        .await
        .unwrap();

    // Bad values and unknown settings are errors, as in PostgreSQL.
    let err = client
        .simple_query("SET statement_timeout = 'banana'")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "22023", "{}", message(&err));
    let err = client
        .simple_query("SET no_such_setting = 5")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "42704", "{}", message(&err));
    assert!(message(&err).contains("unrecognized configuration parameter"));
    let err = client
        .simple_query("SET TIME ZONE 'Mars/Olympus_Mons'")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "22023", "{}", message(&err));
    // A custom placeholder (with a dot) is kept, as PostgreSQL keeps it.
    client.simple_query("SET myapp.tenant = 7").await.unwrap();
}
