//! Where Brook's own statements ([`crate::sql::Statement`]) meet the wire:
//! recognised before datafusion-postgres parses, executed, and their
//! [`Outcome`] encoded into one response, for both protocols.
//!
//! datafusion-postgres parses every query with sqlparser before any hook
//! sees it, and sqlparser cannot parse `CREATE PIPELINE` and its kind. So
//! those are recognised first: on the simple protocol by splitting the query
//! string into statements (`server::cancel`); on the extended protocol by a
//! query parser in front of datafusion-postgres' ([`BrookParser`]). The
//! statements sqlparser does parse (CREATE TABLE, COPY, …) reach Brook
//! through a query hook (`server::hooks`). Both end in [`answer`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use datafusion_postgres::Parser;
use datafusion_postgres::arrow_pg::datatypes::arrow_schema_to_pg_fields;
use datafusion_postgres::hooks::HookClient;
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
use crate::sql::{Notices, Outcome, Statement};

/// datafusion-postgres' prepared-statement type: the SQL text and, for
/// ordinary SQL, its parsed statement and plan. Brook's own statements are
/// stored with `None`; their parsed form waits in [`BrookParser`].
pub type StoredStatement = (String, Option<(SqlStatement, LogicalPlan)>);

fn parse_error(e: datafusion::sql::sqlparser::parser::ParserError) -> PgWireError {
    to_pgwire(classify(&e))
}

/// Parse `sql` as a statement of Brook's own grammar, if it is one. For a
/// text already known to open one: a piece of a split message.
pub fn parse(sql: &str) -> PgWireResult<Option<Statement>> {
    Statement::parse(sql).map_err(parse_error)
}

/// Run a Brook statement (sent as `text`) and encode its answer. Progress
/// the statement reports (a model training) reaches the client as NOTICE
/// messages while it runs; a statement of an audited class is recorded in
/// the audit log with its outcome before the answer leaves.
pub async fn answer(
    engine: &Engine,
    ctx: &SessionContext,
    statement: Statement,
    text: &str,
    client: &mut dyn HookClient,
    format: &Format,
) -> PgWireResult<Response> {
    let mut statement = statement;
    let audit_class = statement.audit_class();
    // The session's catalog: its temporary tables come first in the path.
    if let Some(path) = super::session_settings::nondefault_search_path(
        ctx.catalog(crate::catalog::DATABASE),
        &*client,
    ) {
        statement.resolve_names(&path);
    }
    let (notices, mut progress) = Notices::channel();
    let running = statement.execute(engine, ctx, notices);
    tokio::pin!(running);
    let outcome = loop {
        tokio::select! {
            outcome = &mut running => break outcome,
            Some(message) = progress.recv() => notice(client, message).await?,
        }
    };
    while let Ok(message) = progress.try_recv() {
        notice(client, message).await?;
    }
    if let Some(class) = audit_class {
        audit(engine, ctx, &*client, class, text, &outcome).await;
    }
    match outcome.map_err(brook_to_pgwire)? {
        Outcome::Done { tag, rows } => {
            let mut t = Tag::new(tag);
            if let Some(rows) = rows {
                t = t.with_rows(rows);
            }
            Ok(Response::Execution(t))
        }
        Outcome::Rows(df) => {
            let options = Arc::new(FormatOptions::from_client_metadata(client.metadata()));
            Ok(Response::Query(
                super::results::encode(df, format, Some(options)).await?,
            ))
        }
        Outcome::CopyIn(spec) => Ok(super::copy::begin(engine, spec, &*client)),
        Outcome::CopyOut(spec) => super::copy_out::respond(ctx, spec).await,
    }
}

/// Record `text`, a statement of audit `class`, and how it ended.
async fn audit(
    engine: &Engine,
    ctx: &SessionContext,
    client: &dyn HookClient,
    class: &str,
    text: &str,
    outcome: &crate::error::Result<Outcome>,
) {
    use crate::observability::audit;
    if engine.audit.path().is_none() {
        return;
    }
    let state = ctx.state();
    let config = state.config_options();
    let actor = audit::Actor {
        role: crate::catalog::settings::session_role(config),
        login_role: crate::catalog::settings::login_role(config),
        client: client.socket_addr(),
        pid: Some(client.pid_and_secret_key().0),
    };
    let (command, result) = match outcome {
        Ok(Outcome::Done { tag, .. }) => (tag.to_string(), audit::Outcome::Success),
        Ok(_) => (audit::command_words(text), audit::Outcome::Success),
        Err(e) => {
            let c = super::errors::classify_brook(e);
            (
                audit::command_words(text),
                audit::Outcome::Failure {
                    sqlstate: c.code.code().to_string(),
                    message: c.message,
                },
            )
        }
    };
    engine
        .audit
        .statement(&actor, class, &command, text, result)
        .await;
}

/// A NOTICE with SQLSTATE `code`.
pub async fn notice_with(
    client: &mut dyn HookClient,
    code: SqlState,
    text: String,
) -> PgWireResult<()> {
    let info = super::errors::notice_info(code, text);
    client
        .send_message(PgWireBackendMessage::NoticeResponse(info.into()))
        .await
}

async fn notice(client: &mut dyn HookClient, message: crate::sql::Notice) -> PgWireResult<()> {
    if !message.warning {
        return notice_with(client, message.code, message.text).await;
    }
    let info = super::errors::warning_info(message.code, message.text);
    client
        .send_message(PgWireBackendMessage::NoticeResponse(info.into()))
        .await
}

/// The error a statement of a multi-statement query ends the query with.
pub fn error_response(e: PgWireError) -> Response {
    Response::Error(Box::new(super::errors::info_of(e)))
}

/// Brook statements parsed at Parse, found again by their text.
///
/// pgwire keeps datafusion-postgres' statement type ([`StoredStatement`])
/// in its portal store, which has no room for a statement sqlparser cannot
/// parse; so the parsed form waits here for Describe and Execute, which
/// find it by its text instead of parsing it again. Parsing is a function
/// of the text alone, so one entry serves every session. The map is bounded:
/// when full it starts again, and a statement no longer found is parsed
/// again (the same answer, a little later).
#[derive(Default)]
struct Parsed(Mutex<HashMap<String, Arc<Statement>>>);

/// More prepared Brook statements than an application keeps.
const MAX_PARSED: usize = 1024;

impl Parsed {
    fn get(&self, sql: &str) -> Option<Arc<Statement>> {
        self.0.lock().ok()?.get(sql).cloned()
    }

    fn keep(&self, sql: &str, statement: Statement) -> Arc<Statement> {
        let statement = Arc::new(statement);
        if let Ok(mut parsed) = self.0.lock() {
            if parsed.len() >= MAX_PARSED {
                parsed.clear();
            }
            parsed.insert(sql.to_string(), statement.clone());
        }
        statement
    }
}

/// The extended protocol's parser: Brook's statements first, then datafusion-postgres'.
pub struct BrookParser {
    engine: Arc<Engine>,
    /// The session's context, whose catalog bare names resolve against.
    ctx: Arc<SessionContext>,
    inner: Arc<Parser>,
    parsed: Parsed,
}

impl BrookParser {
    pub fn new(engine: Arc<Engine>, ctx: Arc<SessionContext>, inner: Arc<Parser>) -> Self {
        Self {
            engine,
            ctx,
            inner,
            parsed: Parsed::default(),
        }
    }

    /// The Brook statement a stored statement holds, if it holds one.
    pub fn statement(&self, stored: &StoredStatement) -> PgWireResult<Option<Arc<Statement>>> {
        let (sql, None) = stored else {
            return Ok(None);
        };
        if let Some(statement) = self.parsed.get(sql) {
            return Ok(Some(statement));
        }
        Ok(parse(sql)?.map(|statement| self.parsed.keep(sql, statement)))
    }
}

#[async_trait]
impl QueryParser for BrookParser {
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
        let brook = crate::sql::parser::is_one_brook_statement(sql).map_err(parse_error)?;
        // Cut as the simple protocol cuts them (its NOTICE has no channel
        // while a Parse is answered).
        let (sql, _) = crate::sql::parser::truncate_identifiers(sql);
        let sql = sql.as_ref();
        if brook && let Some(statement) = parse(sql)? {
            self.parsed.keep(sql, statement);
            return Ok(Some((sql.to_string(), None)));
        }
        let qualified = super::session_settings::nondefault_search_path(
            self.ctx.catalog(crate::catalog::DATABASE),
            client,
        )
        .and_then(|path| path.qualify_sql(sql));
        let sql = qualified.as_deref().unwrap_or(sql);
        let defaults = crate::sql::insert_defaults::apply(&self.engine, &self.ctx, sql).await;
        let sql = defaults.as_deref().unwrap_or(sql);
        let sql = crate::catalog::pg_rewrites::rewrite_for(
            sql,
            Some(client.pid_and_secret_key().0),
            client.metadata().get("search_path").map(String::as_str),
        );
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
        if let Ok(Some(statement)) = self.statement(stmt) {
            return match statement.columns(&self.engine) {
                Some(schema) => arrow_schema_to_pg_fields(
                    &schema,
                    column_format.unwrap_or(&Format::UnifiedText),
                    None,
                ),
                None => Ok(vec![]),
            };
        }
        match stmt {
            (_, Some((_, plan))) if !matches!(plan, LogicalPlan::Ddl(_) | LogicalPlan::Dml(_)) => {
                super::results::described_fields(
                    &self.ctx.state(),
                    plan,
                    column_format.unwrap_or(&Format::UnifiedText),
                )
            }
            _ => self.inner.get_result_schema(stmt, column_format),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parsed_statement_is_found_by_its_text_and_the_map_stays_bounded() {
        let parsed = Parsed::default();
        let show = Statement::parse("SHOW MODELS").unwrap().unwrap();
        parsed.keep("SHOW MODELS", show.clone());
        assert_eq!(parsed.get("SHOW MODELS").as_deref(), Some(&show));
        assert!(parsed.get("SHOW PIPELINES").is_none());
        for i in 0..MAX_PARSED + 10 {
            parsed.keep(&format!("STOP PIPELINE p{i}"), show.clone());
        }
        let kept = parsed.0.lock().map(|m| m.len()).unwrap_or(usize::MAX);
        assert!(kept <= MAX_PARSED, "{kept}");
    }
}
