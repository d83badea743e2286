//! sqllogictest files under `sql/slt/`, each run over the Postgres wire against
//! a fresh server. Results are compared in the text format psql shows; errors
//! as `SQLSTATE: message`, so a test pins the code as well as the words.

use std::path::PathBuf;

use async_trait::async_trait;
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType};
use tokio_postgres::SimpleQueryMessage;

use crate::support::Brook;

#[derive(Debug)]
pub struct SqlError(String);

impl std::fmt::Display for SqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SqlError {}

pub struct Wire {
    client: tokio_postgres::Client,
}

#[async_trait]
impl AsyncDB for Wire {
    type Error = SqlError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SqlError> {
        let messages = self.client.simple_query(sql).await.map_err(|e| {
            SqlError(match e.as_db_error() {
                Some(db) => format!("{}: {}", db.code().code(), db.message()),
                None => format!("connection: {e}"),
            })
        })?;
        let mut rows = Vec::new();
        let mut columns = None;
        let mut count = 0;
        for m in messages {
            match m {
                SimpleQueryMessage::RowDescription(cols) => columns = Some(cols.len()),
                SimpleQueryMessage::Row(row) => {
                    columns.get_or_insert(row.len());
                    rows.push(
                        (0..row.len())
                            .map(|i| match row.get(i) {
                                None => "NULL".to_string(),
                                Some("") => "(empty)".to_string(),
                                Some(v) => v.to_string(),
                            })
                            .collect(),
                    );
                }
                SimpleQueryMessage::CommandComplete(n) => count = n,
                _ => {}
            }
        }
        match columns {
            Some(n) => Ok(DBOutput::Rows {
                types: vec![DefaultColumnType::Any; n],
                rows,
            }),
            None => Ok(DBOutput::StatementComplete(count)),
        }
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "brook"
    }

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await
    }
}

fn slt_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sql/slt")
}

fn slt_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(slt_dir())
        .expect("sql/slt exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    files.sort();
    files
}

/// Run one file against a server of its own (a fresh data directory, so
/// files never see each other's tables). With `BROOK_SLT_COMPLETE=1` the
/// file's expected results are rewritten from what the server answers
/// instead (`BROOK_SLT_COMPLETE=1 cargo test --test it slt::`), for a
/// person to review with `git diff` before committing, as DataFusion's
/// `sqllogictests --complete` does.
async fn run_slt(name: &str) {
    let file = slt_dir().join(name);
    let brook = Brook::start();
    let conn = brook.conn_string();
    let mut runner = sqllogictest::Runner::new(move || {
        let conn = conn.clone();
        async move {
            let (client, connection) = tokio_postgres::connect(&conn, tokio_postgres::NoTls)
                .await
                .map_err(|e| SqlError(e.to_string()))?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            Ok::<_, SqlError>(Wire { client })
        }
    });
    let complete = std::env::var("BROOK_SLT_COMPLETE").is_ok_and(|v| v == "1");
    let outcome = if complete {
        runner
            .update_test_file(
                &file,
                " ",
                sqllogictest::default_validator,
                sqllogictest::default_normalizer,
                sqllogictest::default_column_validator,
            )
            .await
            .map_err(|e| e.to_string())
    } else {
        runner
            .run_file_async(&file)
            .await
            .map_err(|e| e.to_string())
    };
    if let Err(e) = outcome {
        panic!("{}:\n{e}\nserver log:\n{}", file.display(), brook.log());
    }
}

/// One test per file, so that `cargo test --test it slt::types` runs one
/// and a failure names its file.
macro_rules! slt_files {
    ($($test:ident => $file:literal),* $(,)?) => {
        const LISTED: &[&str] = &[$($file),*];
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                run_slt($file).await;
            }
        )*
    };
}

slt_files! {
    alter_table => "alter_table.slt",
    catalog => "catalog.slt",
    client_dbeaver => "client_dbeaver.slt",
    client_grafana => "client_grafana.slt",
    client_metabase => "client_metabase.slt",
    client_powerbi_npgsql => "client_powerbi_npgsql.slt",
    client_tableau_odbc => "client_tableau_odbc.slt",
    comments => "comments.slt",
    ddl => "ddl.slt",
    default_privileges => "default_privileges.slt",
    dml => "dml.slt",
    dml_returning => "dml_returning.slt",
    dump_and_restore => "dump_and_restore.slt",
    errors => "errors.slt",
    merge => "merge.slt",
    models => "models.slt",
    pipelines => "pipelines.slt",
    result_types => "result_types.slt",
    roles => "roles.slt",
    row_security => "row_security.slt",
    search_path => "search_path.slt",
    sequences => "sequences.slt",
    session_settings => "session_settings.slt",
    simple_query_rewrites => "simple_query_rewrites.slt",
    temp_tables => "temp_tables.slt",
    text_types => "text_types.slt",
    transactions => "transactions.slt",
    types => "types.slt",
    unique => "unique.slt",
    upsert => "upsert.slt",
}

/// A file added to `sql/slt/` without a line above would never run.
#[test]
fn every_slt_file_has_a_test() {
    let listed: Vec<String> = LISTED.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        slt_files(),
        listed,
        "list every sql/slt file in slt_files! above"
    );
}
