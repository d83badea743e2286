//! Brook's own statements (`CREATE PIPELINE`, …) on the wire.
//!
//! datafusion-postgres parses every query with sqlparser before any hook sees
//! it, and sqlparser cannot parse these statements. So they are recognised
//! first: on the simple protocol by splitting the query string into
//! statements ([`simple_query`]); on the extended protocol by a query parser
//! in front of datafusion-postgres' ([`ExtensionParser`]) that stores them
//! as a statement without a plan, which [`execute_portal`] then recognises.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use datafusion_postgres::Parser;
use datafusion_postgres::arrow_pg::datatypes::arrow_schema_to_pg_fields;
use datafusion_postgres::arrow_pg::datatypes::df::encode_dataframe;
use futures::{Sink, SinkExt};
use pgwire::api::ClientInfo;
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::{FieldInfo, Response, Tag};
use pgwire::api::stmt::QueryParser;
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::types::format::FormatOptions;

use super::errors::{brook_to_pgwire, classify, to_pgwire};
use crate::engine::Engine;
use crate::error::SqlState;
use crate::sql::{self, Extension, ExtensionOutcome, Notices};

/// datafusion-postgres' prepared-statement type: the SQL text and, for
/// ordinary SQL, its parsed statement and plan. Brook's statements are
/// stored with `None` and re-parsed (cheaply) when executed.
pub type StoredStatement = (String, Option<(SqlStatement, LogicalPlan)>);

fn parse_error(e: datafusion::sql::sqlparser::parser::ParserError) -> PgWireError {
    to_pgwire(classify(&e))
}

/// Parse `sql` as one of Brook's statements, if it is one. For a text
/// already known to be one: a piece of a split message, or a prepared
/// statement stored without a plan (see [`StoredStatement`]).
pub fn recognise(sql: &str) -> PgWireResult<Option<Extension>> {
    sql::parse_extension(sql).map_err(parse_error)
}

/// Run a Brook statement and encode its answer. Progress the statement
/// reports (a model training) reaches the client as NOTICE messages while it runs.
pub async fn execute<C>(
    engine: &Arc<Engine>,
    ext: Extension,
    client: &mut C,
    format: &Format,
) -> PgWireResult<Response>
where
    C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let (notices, mut progress) = Notices::channel();
    let statement = sql::execute_extension(engine, ext, notices);
    tokio::pin!(statement);
    let outcome = loop {
        tokio::select! {
            outcome = &mut statement => break outcome,
            Some(text) = progress.recv() => notice(client, text).await?,
        }
    };
    while let Ok(text) = progress.try_recv() {
        notice(client, text).await?;
    }
    match outcome.map_err(brook_to_pgwire)? {
        ExtensionOutcome::Done { tag, rows } => {
            let mut t = Tag::new(tag);
            if let Some(rows) = rows {
                t = t.with_rows(rows);
            }
            Ok(Response::Execution(t))
        }
        ExtensionOutcome::Rows(df) => {
            let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
            Ok(Response::Query(
                encode_dataframe(df, format, Some(options)).await?,
            ))
        }
    }
}

/// A NOTICE with SQLSTATE `code`.
pub async fn notice_with<C>(client: &mut C, code: SqlState, text: String) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let info = super::errors::notice_info(code, text);
    client
        .send(PgWireBackendMessage::NoticeResponse(info.into()))
        .await?;
    Ok(())
}

async fn notice<C>(client: &mut C, text: String) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    notice_with(client, SqlState::SUCCESSFUL_COMPLETION, text).await
}

/// The error a statement of a multi-statement query ends the query with.
pub fn error_response(e: PgWireError) -> Response {
    Response::Error(Box::new(super::errors::info_of(e)))
}

/// The extended protocol's parser: Brook's statements first, then datafusion-postgres'.
pub struct ExtensionParser {
    engine: Arc<Engine>,
    inner: Arc<Parser>,
}

impl ExtensionParser {
    pub fn new(engine: Arc<Engine>, inner: Arc<Parser>) -> Self {
        Self { engine, inner }
    }
}

#[async_trait]
impl QueryParser for ExtensionParser {
    type Statement = StoredStatement;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        types: &[Option<Type>],
    ) -> PgWireResult<Option<Self::Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        // Refuses too complex a statement, and recognises Brook's own.
        let brook = sql::parser::is_one_brook_statement(sql).map_err(parse_error)?;
        // Cut as the simple protocol cuts them (its NOTICE has no channel
        // while a Parse is answered).
        let (sql, _) = sql::parser::truncate_identifiers(sql);
        let sql = sql.as_ref();
        if brook && recognise(sql)?.is_some() {
            return Ok(Some((sql.to_string(), None)));
        }
        let sql =
            crate::catalog::pg_rewrites::rewrite_for(sql, Some(client.pid_and_secret_key().0));
        self.inner.parse_sql(client, &sql, types).await
    }

    fn get_parameter_types(&self, stmt: &Self::Statement) -> PgWireResult<Vec<Type>> {
        self.inner.get_parameter_types(stmt)
    }

    fn get_result_schema(
        &self,
        stmt: &Self::Statement,
        column_format: Option<&Format>,
    ) -> PgWireResult<Vec<FieldInfo>> {
        if let (sql, None) = stmt
            && let Ok(Some(ext)) = recognise(sql)
        {
            return match sql::extension_schema(&self.engine, &ext) {
                Some(schema) => arrow_schema_to_pg_fields(
                    &schema,
                    column_format.unwrap_or(&Format::UnifiedText),
                    None,
                ),
                None => Ok(vec![]),
            };
        }
        self.inner.get_result_schema(stmt, column_format)
    }
}
