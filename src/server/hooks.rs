//! Brook's statements in front of datafusion-postgres' handlers: a `QueryHook`
//! sees each parsed statement first, on both the simple and the extended
//! protocol, and answers those that Brook executes itself.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use async_trait::async_trait;
use datafusion::common::{DFSchema, ParamValues};
use datafusion::logical_expr::{EmptyRelation, LogicalPlan};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::Statement;
use datafusion_postgres::QueryHook;
use datafusion_postgres::hooks::HookClient;
use pgwire::api::ClientInfo;
use pgwire::api::portal::Format;
use pgwire::api::results::{Response, Tag};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;

mod cursors;
mod prepared;
mod queries;
mod set;
mod show;
mod temp_tables;

pub use cursors::Cursors;
pub use prepared::PreparedStatements;
pub use queries::Queries;

use super::errors::brook_to_pgwire;
use super::statements::answer;
use crate::engine::Engine;
use crate::error::SqlState;
use crate::sql;

/// The plan of a statement Brook answers itself: no rows, no parameters, so
/// that Describe answers NoData.
pub fn no_rows_plan() -> LogicalPlan {
    LogicalPlan::EmptyRelation(EmptyRelation {
        produce_one_row: false,
        schema: Arc::new(DFSchema::empty()),
    })
}

/// The statements sqlparser parses but Brook executes ([`sql::Statement::from_sql`]).
pub struct BrookStatements {
    engine: Arc<Engine>,
}

impl BrookStatements {
    pub fn new(engine: Arc<Engine>) -> Self {
        Self { engine }
    }

    /// Answer `statement` if Brook executes it. Its text (for the audit
    /// log) is printed only then: every other query passes by untouched.
    async fn answer(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        let brook = sql::Statement::from_sql(statement)?;
        let text = statement.to_string();
        Some(
            answer(
                &self.engine,
                ctx,
                brook,
                &text,
                client,
                &Format::UnifiedText,
            )
            .await,
        )
    }
}

#[async_trait]
impl QueryHook for BrookStatements {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        self.answer(statement, ctx, client).await
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        // Brook statements return no rows and take no parameters: an empty plan
        // makes Describe answer NoData.
        sql::Statement::from_sql(statement).map(|_| Ok(no_rows_plan()))
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        self.answer(statement, ctx, client).await
    }
}

/// `INSERT … ON CONFLICT` and `INSERT … RETURNING` ([`sql::upsert`]).
pub struct Upserts {
    engine: Arc<Engine>,
}

impl Upserts {
    pub fn new(engine: Arc<Engine>) -> Self {
        Self { engine }
    }

    async fn run(
        &self,
        insert: &datafusion::sql::sqlparser::ast::Insert,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
        params: Option<&ParamValues>,
    ) -> PgWireResult<Response> {
        let inserted = sql::upsert::execute(&self.engine, ctx, insert, params)
            .await
            .map_err(brook_to_pgwire)?;
        let Some(rows) = inserted.returning else {
            return Ok(Response::Execution(dml_tag("INSERT", inserted.rows)));
        };
        // pgwire appends the row count: `INSERT 0 n`.
        returned_rows(rows, "INSERT 0", client, params.is_some()).await
    }
}

/// RETURNING's rows as the answer to a data-changing statement, tagged
/// `tag` and the row count: text on the simple protocol, the portal's
/// formats on the extended.
async fn returned_rows(
    rows: datafusion::dataframe::DataFrame,
    tag: &str,
    client: &mut dyn HookClient,
    extended: bool,
) -> PgWireResult<Response> {
    let options = Arc::new(pgwire::types::format::FormatOptions::from_client_metadata(
        client.metadata(),
    ));
    let format = if extended {
        client
            .session_extensions()
            .get::<super::cancel::ResultFormat>()
            .map(|f| f.0.clone())
            .unwrap_or_default()
    } else {
        Format::UnifiedText
    };
    let mut response = super::results::encode(rows, &format, Some(options)).await?;
    response.set_command_tag(tag);
    Ok(Response::Query(response))
}

/// `UPDATE … RETURNING` and `DELETE … RETURNING` ([`sql::dml_returning`]).
pub struct DmlReturning {
    engine: Arc<Engine>,
}

impl DmlReturning {
    pub fn new(engine: Arc<Engine>) -> Self {
        Self { engine }
    }

    async fn run(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
        params: Option<&ParamValues>,
    ) -> PgWireResult<Response> {
        let changed = sql::dml_returning::execute(&self.engine, ctx, statement, params)
            .await
            .map_err(brook_to_pgwire)?;
        returned_rows(changed.returning, changed.command, client, params.is_some()).await
    }
}

#[async_trait]
impl QueryHook for DmlReturning {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        if !sql::dml_returning::handles(statement) {
            return None;
        }
        Some(self.run(statement, ctx, client, None).await)
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        if !sql::dml_returning::handles(statement) {
            return None;
        }
        Some(
            sql::dml_returning::returning_plan(ctx, statement)
                .await
                .map_err(brook_to_pgwire),
        )
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        params: &ParamValues,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        if !sql::dml_returning::handles(statement) {
            return None;
        }
        Some(self.run(statement, ctx, client, Some(params)).await)
    }
}

fn upsert(statement: &Statement) -> Option<&datafusion::sql::sqlparser::ast::Insert> {
    match statement {
        Statement::Insert(insert) if sql::upsert::handles(insert) => Some(insert),
        _ => None,
    }
}

#[async_trait]
impl QueryHook for Upserts {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        let insert = upsert(statement)?;
        Some(self.run(insert, ctx, client, None).await)
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        let insert = upsert(statement)?;
        // A plan whose parameters are the INSERT's and whose columns are
        // RETURNING's (none without it), for Describe.
        let plan = if insert.returning.is_some() {
            sql::upsert::returning_plan(ctx, insert).await
        } else {
            sql::upsert::plain_plan(ctx, insert)
                .await
                .map(LogicalPlan::Dml)
        };
        Some(plan.map_err(brook_to_pgwire))
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        params: &ParamValues,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        let insert = upsert(statement)?;
        Some(self.run(insert, ctx, client, Some(params)).await)
    }
}

/// `GENERATED ALWAYS AS IDENTITY` columns ([`sql::identity`]): an INSERT
/// or UPDATE that writes one is refused (428C9) before DataFusion plans it.
pub struct IdentityColumns {
    engine: Arc<Engine>,
}

impl IdentityColumns {
    pub fn new(engine: Arc<Engine>) -> Self {
        Self { engine }
    }

    /// The refusal of `statement`, if it writes an always-identity column.
    fn refusal(&self, statement: &Statement, ctx: &SessionContext) -> Option<PgWireError> {
        use datafusion::catalog::TableProvider;
        let name = sql::identity::written_table(statement)?;
        let session = crate::storage::transaction::SessionTransaction::open_in(ctx);
        let table = self.engine.catalog.table_for(session.as_deref(), &name)?;
        if table.always_identity().is_empty() {
            return None;
        }
        let columns: Vec<String> = table
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        sql::identity::check(statement, &columns, table.always_identity())
            .err()
            .map(brook_to_pgwire)
    }
}

#[async_trait]
impl QueryHook for IdentityColumns {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        self.refusal(statement, ctx).map(Err)
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        self.refusal(statement, ctx).map(Err)
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        self.refusal(statement, ctx).map(Err)
    }
}

/// `CREATE TEMP TABLE`, `DROP TABLE` and `TRUNCATE` of a temporary table
/// ([`temp_tables`]), before Brook's durable catalog sees them.
pub struct TempTableStatements;

#[async_trait]
impl QueryHook for TempTableStatements {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        // It takes part in the session's transaction: a ROLLBACK undoes it.
        temp_tables::respond(statement, ctx).await
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        // A DROP TABLE is planned as empty by BrookStatements anyway.
        matches!(statement, Statement::CreateTable(c) if c.temporary).then(|| Ok(no_rows_plan()))
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        ctx: &SessionContext,
        _client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        // It takes part in the session's transaction: a ROLLBACK undoes it.
        temp_tables::respond(statement, ctx).await
    }
}

/// `SHOW` as PostgreSQL answers it ([`show`]): every setting Brook reports,
/// `SHOW ALL`, PostgreSQL's version for `server_version` (datafusion-postgres
/// would answer with DataFusion's, which drivers cannot parse); and a bare
/// `SHOW` refused as the syntax error it is (datafusion-postgres 0.19 indexes
/// its empty name list and panics, which ends the session: found by
/// `tests/it/fuzz.rs`).
pub struct Show;

/// A `SHOW` without a setting name.
fn bare_show(statement: &Statement) -> Option<PgWireError> {
    match statement {
        Statement::ShowVariable { variable } if variable.is_empty() => Some(super::errors::refuse(
            SqlState::SYNTAX_ERROR,
            "syntax error: SHOW needs the name of a setting (for example SHOW statement_timeout)",
        )),
        _ => None,
    }
}

/// The plan of a SHOW this hook answers: its columns, no rows (Describe).
fn show_plan(columns: Vec<String>) -> PgWireResult<LogicalPlan> {
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    let schema = Schema::new(
        columns
            .iter()
            .map(|c| Field::new(c, DataType::Utf8, false))
            .collect::<Vec<_>>(),
    );
    let schema = DFSchema::try_from(schema).map_err(|e| brook_to_pgwire(e.into()))?;
    Ok(LogicalPlan::EmptyRelation(EmptyRelation {
        produce_one_row: false,
        schema: Arc::new(schema),
    }))
}

#[async_trait]
impl QueryHook for Show {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        if let Some(e) = bare_show(statement) {
            return Some(Err(e));
        }
        show::respond(statement, &*client)
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        if let Some(e) = bare_show(statement) {
            return Some(Err(e));
        }
        show::columns(statement).map(show_plan)
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        _ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        if let Some(e) = bare_show(statement) {
            return Some(Err(e));
        }
        show::respond(statement, &*client)
    }
}

/// `SET` checked and applied to the session's own context ([`set`]).
pub struct Settings;

#[async_trait]
impl QueryHook for Settings {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        set::respond(statement, ctx, client).await
    }

    async fn handle_extended_parse_query(
        &self,
        statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        // SET is planned by datafusion-postgres' hook; RESET by nobody else.
        matches!(statement, Statement::Reset(_)).then(|| Ok(no_rows_plan()))
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        _plan: &LogicalPlan,
        _params: &ParamValues,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        set::respond(statement, ctx, client).await
    }
}

/// `INSERT`, `UPDATE` and `DELETE` answered with the command tag clients
/// read the row count from (`DELETE 3`, `INSERT 0 5`; datafusion-postgres
/// would send UPDATE's and DELETE's count as a result row), and a NOTICE
/// every `notice_every` while one runs long (a backfill by `INSERT …
/// SELECT`), so that a person at psql knows it is still working. The work
/// itself is the table's (`storage::dml`).
pub struct DmlTags {
    notice_every: Option<Duration>,
}

impl DmlTags {
    pub fn new(notice_every: Option<Duration>) -> Self {
        Self { notice_every }
    }

    /// Run `work`, telling `client` it is still running every `notice_every`.
    async fn with_progress<T>(
        &self,
        verb: &str,
        client: &mut dyn HookClient,
        work: impl Future<Output = PgWireResult<T>>,
    ) -> PgWireResult<T> {
        let Some(every) = self.notice_every else {
            return work.await;
        };
        let started = Instant::now();
        let mut ticks = tokio::time::interval_at(Instant::now() + every, every);
        tokio::pin!(work);
        loop {
            tokio::select! {
                done = &mut work => return done,
                _ = ticks.tick() => {
                    let text = format!(
                        "{verb} is still running ({} s)",
                        started.elapsed().as_secs()
                    );
                    let info = super::errors::notice_info(SqlState::SUCCESSFUL_COMPLETION, text);
                    client
                        .send_message(PgWireBackendMessage::NoticeResponse(info.into()))
                        .await?;
                }
            }
        }
    }
}

fn dml_verb(statement: &Statement) -> Option<&'static str> {
    match statement {
        Statement::Insert(_) => Some("INSERT"),
        Statement::Delete(_) => Some("DELETE"),
        Statement::Update(_) => Some("UPDATE"),
        _ => None,
    }
}

/// The command tag for `rows` rows (INSERT's carries the legacy OID 0).
fn dml_tag(verb: &str, rows: usize) -> Tag {
    let tag = Tag::new(verb);
    if verb == "INSERT" {
        tag.with_oid(0).with_rows(rows)
    } else {
        tag.with_rows(rows)
    }
}

/// Run a DML plan in the session's context (its subqueries evaluated first,
/// see `sql::dml_subqueries`) and count the rows it changed.
async fn run_dml(ctx: &SessionContext, plan: LogicalPlan) -> PgWireResult<usize> {
    let plan = sql::dml_subqueries::evaluate(ctx, plan)
        .await
        .map_err(|e| brook_to_pgwire(e.into()))?;
    if sql::dml_subqueries::matches_nothing(ctx, &plan).map_err(|e| brook_to_pgwire(e.into()))? {
        return Ok(0);
    }
    let df = ctx
        .execute_logical_plan(plan)
        .await
        .map_err(|e| brook_to_pgwire(e.into()))?;
    affected_rows(df).await
}

async fn affected_rows(df: datafusion::dataframe::DataFrame) -> PgWireResult<usize> {
    use datafusion::arrow::array::{Array, UInt64Array};
    let batches = df.collect().await.map_err(|e| brook_to_pgwire(e.into()))?;
    Ok(batches
        .first()
        .and_then(|b| b.column_by_name("count"))
        .and_then(|c| c.as_any().downcast_ref::<UInt64Array>().cloned())
        .filter(|c| !c.is_empty())
        .map_or(0, |c| c.value(0) as usize))
}

#[async_trait]
impl QueryHook for DmlTags {
    async fn handle_simple_query(
        &self,
        statement: &Statement,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        let verb = dml_verb(statement)?;
        let work = async {
            let plan = ctx
                .state()
                .statement_to_plan(datafusion::sql::parser::Statement::Statement(Box::new(
                    statement.clone(),
                )))
                .await
                .map_err(|e| brook_to_pgwire(e.into()))?;
            run_dml(ctx, plan).await
        };
        Some(
            self.with_progress(verb, client, work)
                .await
                .map(|rows| Response::Execution(dml_tag(verb, rows))),
        )
    }

    async fn handle_extended_parse_query(
        &self,
        _statement: &Statement,
        _ctx: &SessionContext,
        _client: &(dyn ClientInfo + Send + Sync),
    ) -> Option<PgWireResult<LogicalPlan>> {
        None
    }

    async fn handle_extended_query(
        &self,
        statement: &Statement,
        plan: &LogicalPlan,
        params: &ParamValues,
        ctx: &SessionContext,
        client: &mut dyn HookClient,
    ) -> Option<PgWireResult<Response>> {
        let verb = dml_verb(statement)?;
        let work = async {
            let plan = plan
                .clone()
                .replace_params_with_values(params)
                .map_err(|e| brook_to_pgwire(e.into()))?;
            run_dml(ctx, plan).await
        };
        Some(
            self.with_progress(verb, client, work)
                .await
                .map(|rows| Response::Execution(dml_tag(verb, rows))),
        )
    }
}
