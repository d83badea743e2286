//! Roles made in SQL (issue #21): CREATE ROLE / USER, ALTER ROLE, DROP
//! ROLE over the wire, logins with the passwords they set, who may manage
//! them, and what is kept on disk.

use crate::security::{PASSWORD, config_with_user};
use crate::support::{Brook, message, sqlstate};

/// Log in as `user` with `password`: the session, or the error.
async fn login(
    brook: &Brook,
    user: &str,
    password: &str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let url = format!(
        "host=127.0.0.1 port={} user={user} password='{password}' dbname=brook",
        brook.port()
    );
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

async fn current_user(client: &tokio_postgres::Client) -> String {
    client
        .query_one("SELECT current_user", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_made_in_sql_log_in_with_their_passwords_and_only_superusers_manage_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_user(dir.path(), "");
    let brook = Brook::start_with(
        "127.0.0.1",
        &["--config".into(), config.display().to_string()],
    );
    let admin = login(&brook, "analyst", PASSWORD)
        .await
        .expect("bootstrap user");
    admin
        .batch_execute(
            "CREATE ROLE app LOGIN PASSWORD 'app secret'; \
             CREATE ROLE group_only PASSWORD 'no login'; \
             CREATE USER expired WITH PASSWORD 'old' VALID UNTIL '2001-01-01'",
        )
        .await
        .unwrap();

    // A role with LOGIN and a password logs in with it, and only with it.
    let app = login(&brook, "app", "app secret")
        .await
        .expect("app logs in");
    assert_eq!(current_user(&app).await, "app");
    for (user, password) in [
        ("app", "wrong"),
        ("group_only", "no login"),
        ("expired", "old"),
    ] {
        let e = login(&brook, user, password).await.expect_err(user);
        assert_eq!(sqlstate(&e), "28P01", "{user}: {}", message(&e));
    }

    // pg_roles lists them with their attributes; the bootstrap user is a superuser.
    let rows = admin
        .query(
            "SELECT rolname, rolsuper, rolcanlogin FROM pg_roles \
             WHERE rolname NOT LIKE 'pg\\_%' ORDER BY rolname",
            &[],
        )
        .await
        .unwrap();
    let listed: Vec<(String, bool, bool)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("analyst".to_string(), true, true),
            ("app".to_string(), false, true),
            ("expired".to_string(), false, true),
            ("group_only".to_string(), false, false),
        ]
    );

    // A role that is no superuser manages no roles, but may set its own password.
    for sql in [
        "CREATE ROLE intruder SUPERUSER LOGIN PASSWORD 'x'",
        "ALTER ROLE app SUPERUSER",
        "DROP ROLE group_only",
    ] {
        let e = app.batch_execute(sql).await.expect_err(sql);
        assert_eq!(sqlstate(&e), "42501", "{sql}: {}", message(&e));
    }
    app.batch_execute("ALTER ROLE app PASSWORD 'new secret'")
        .await
        .unwrap();
    assert!(login(&brook, "app", "app secret").await.is_err());
    assert!(login(&brook, "app", "new secret").await.is_ok());

    // Others see the statement a session ran, never the password in it.
    let shown: String = admin
        .query_one(
            "SELECT query FROM information_schema.sessions WHERE usename = 'app' AND query LIKE 'ALTER ROLE%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(shown, "ALTER ROLE app PASSWORD '********'");

    // A role's CONNECTION LIMIT holds its sessions to that many (once the
    // sessions of the logins above have closed, `app` has one).
    for _ in 0..100 {
        let open: i64 = admin
            .query_one(
                "SELECT count(*) FROM information_schema.sessions WHERE usename = 'app'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if open == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    admin
        .batch_execute("ALTER ROLE app CONNECTION LIMIT 2")
        .await
        .unwrap();
    let second = login(&brook, "app", "new secret")
        .await
        .expect("the second session");
    let e = login(&brook, "app", "new secret")
        .await
        .expect_err("a third session");
    assert_eq!(sqlstate(&e), "53300", "{}", message(&e));
    assert!(
        message(&e).contains("too many connections for role \"app\""),
        "{}",
        message(&e)
    );
    drop(second);

    // app sees its own statements in information_schema.sessions, not
    // another role's.
    let seen: Vec<(String, String)> = app
        .query(
            "SELECT usename, query FROM information_schema.sessions WHERE usename IN ('app', 'analyst')",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert!(
        seen.iter()
            .all(|(user, query)| (user == "app") != (query == "<insufficient privilege>")),
        "{seen:?}"
    );
    assert!(seen.iter().any(|(user, _)| user == "analyst"), "{seen:?}");

    // Another role's statements are a superuser's to cancel, not app's.
    let admin_pid: i32 = admin
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let app_pid: i32 = app
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let e = app
        .query_one(&format!("SELECT pg_cancel_backend({admin_pid})"), &[])
        .await
        .expect_err("app cancels the superuser's session");
    assert_eq!(sqlstate(&e), "42501", "{}", message(&e));
    let cancelled: bool = admin
        .query_one(&format!("SELECT pg_cancel_backend({app_pid})"), &[])
        .await
        .unwrap()
        .get(0);
    assert!(cancelled, "a superuser cancels any session's statement");
    app.batch_execute("SELECT 1").await.expect("app goes on");

    // PostgreSQL's answers for the rest.
    for (sql, code) in [
        ("CREATE ROLE app", "42710"),
        ("CREATE ROLE pg_mine", "42939"),
        ("DROP ROLE nobody", "42704"),
        ("DROP ROLE analyst", "55006"),
        ("BEGIN; CREATE ROLE in_block", "25001"),
    ] {
        let e = admin.batch_execute(sql).await.expect_err(sql);
        assert_eq!(sqlstate(&e), code, "{sql}: {}", message(&e));
        let _ = admin.batch_execute("ROLLBACK").await;
    }

    // Kept across a restart, as a verifier only.
    let brook = brook.restart();
    let kept = std::fs::read_to_string(brook.data_dir().join("roles.json")).unwrap();
    assert!(kept.contains("SCRAM-SHA-256$4096:"), "{kept}");
    assert!(
        !kept.contains("new secret") && !kept.contains("app secret"),
        "{kept}"
    );
    let app = login(&brook, "app", "new secret")
        .await
        .expect("app after a restart");
    assert_eq!(current_user(&app).await, "app");

    // Renamed, it logs in under its new name; dropped, not at all.
    let admin = login(&brook, "analyst", PASSWORD).await.unwrap();
    drop(app);
    admin
        .batch_execute("ALTER ROLE app RENAME TO service")
        .await
        .unwrap();
    assert!(login(&brook, "service", "new secret").await.is_ok());
    assert!(login(&brook, "app", "new secret").await.is_err());
    admin.batch_execute("DROP ROLE service").await.unwrap();
    let e = login(&brook, "service", "new secret").await.unwrap_err();
    assert_eq!(sqlstate(&e), "28P01");
}
