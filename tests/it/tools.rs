//! Tools nobody here wrote, driven as their users drive them, each run
//! against Brook and against a real PostgreSQL 15 in the same test so that
//! a failure is attributable: Alembic migrations, pg_dump.

use std::process::Command;

use crate::postgres::Postgres;
use crate::support::Brook;

/// Run `tests/python/<script>` with `url`; (stdout, stderr, success).
fn run_python(script: &str, url: &str) -> (String, String, bool) {
    let path = format!("{}/tests/python/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .args([path.as_str(), url])
        .output()
        .expect("python3 runs");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

#[test]
fn alembic_upgrades_downgrades_and_upgrades_again_as_on_postgresql() {
    let postgres = Postgres::start();
    let oracle = format!(
        "postgresql+psycopg://postgres@127.0.0.1:{}/postgres",
        postgres.port
    );
    let (expected, err, ok) = run_python("alembic_migrations.py", &oracle);
    assert!(ok, "the migrations fail on PostgreSQL itself:\n{err}");

    let brook = Brook::start();
    let url = brook
        .url()
        .replace("postgresql://", "postgresql+psycopg://");
    let (out, err, ok) = run_python("alembic_migrations.py", &url);
    assert!(
        ok,
        "Alembic on Brook (is alembic installed? .ci/run installs it):\n{out}\n{err}\nlog:\n{}",
        brook.log()
    );
    assert_eq!(out, expected);
    assert_eq!(out, "ok upgrade\nok downgrade\nok base\nok again\n");
}
