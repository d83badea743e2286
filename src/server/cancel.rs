//! Cancel requests that reach a query while its rows stream.
//!
//! pgwire races a cancel request against `do_query` only; DataFusion's
//! results are lazy streams that do their work after `do_query` returns, so a
//! long aggregate would never see the cancel. [`Cancellable`] wraps the
//! session service and arms the connection's cancel signal again for the
//! streaming phase: a cancel then ends the stream with SQLSTATE 57014. The
//! same watch enforces `statement_timeout` over the whole statement, where
//! datafusion-postgres times planning only.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use datafusion_postgres::DfSessionService;
use futures::channel::oneshot;
use futures::future::{BoxFuture, Shared};
use futures::{FutureExt, Sink, SinkExt, StreamExt};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{QueryResponse, Response};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, ConnectionHandle};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::extendedquery::{Execute, Sync as PgSync};
use pgwire::messages::response::ReadyForQuery;
use pgwire::messages::simplequery::Query;

use datafusion::prelude::SessionContext;
use tokio::time::Instant;

use super::auth::STATEMENT_TIMEOUT_KEY;
use super::block_status::{self, Reporting};
use super::statements::{self, BrookParser};
use crate::catalog::DATABASE;
use crate::engine::Engine;
use crate::error::SqlState;
use crate::observability::sessions::Registered;
use crate::sql::{self, Statement};
use crate::storage::transaction::{BlockState, SessionTransaction};

/// The session service with cancellation extended to result streaming, and
/// Brook's own statements recognised before datafusion-postgres parses.
pub struct Cancellable {
    inner: Arc<DfSessionService>,
    engine: Arc<Engine>,
    parser: Arc<BrookParser>,
    /// The session's transaction: what each `ReadyForQuery` reports
    /// (server::block_status), and whether Brook's own statements may run.
    transaction: Arc<SessionTransaction>,
    /// The session's context: its catalog (with its temporary tables) is
    /// what bare names are resolved against.
    ctx: Arc<SessionContext>,
}

impl Cancellable {
    pub fn new(
        inner: Arc<DfSessionService>,
        engine: Arc<Engine>,
        ctx: Arc<SessionContext>,
        transaction: Arc<SessionTransaction>,
    ) -> Self {
        let parser = Arc::new(BrookParser::new(
            engine.clone(),
            ctx.clone(),
            inner.query_parser(),
        ));
        Self {
            inner,
            engine,
            parser,
            transaction,
            ctx,
        }
    }

    /// Brook's own statements (pipelines, models) bypass the statement
    /// hooks, so the rule of a failed block is kept for them here.
    fn refuse_in_failed_block(&self) -> PgWireResult<()> {
        if self.transaction.state() == BlockState::Failed {
            return Err(super::transactions::aborted());
        }
        Ok(())
    }

    /// One statement of a simple query: Brook's own here, the rest (with the
    /// client-compatibility rewrites) by datafusion-postgres.
    async fn one_statement<C>(
        &self,
        client: &mut C,
        piece: &sql::parser::Piece,
    ) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let (sql, cut) = sql::parser::truncate_identifiers(&piece.text);
        for text in cut {
            statements::notice_with(client, SqlState::NAME_TOO_LONG, text).await?;
        }
        let sql = sql.as_ref();
        if piece.brook
            && let Some(statement) = statements::parse(sql)?
        {
            self.refuse_in_failed_block()?;
            return statements::answer(
                &self.engine,
                &self.ctx,
                statement,
                sql,
                client,
                &Format::UnifiedText,
            )
            .await
            .map(|r| vec![r]);
        }
        let qualified =
            super::session_settings::nondefault_search_path(self.ctx.catalog(DATABASE), &*client)
                .and_then(|path| path.qualify_sql(sql));
        let sql = qualified.as_deref().unwrap_or(sql);
        let defaults = sql::insert_defaults::apply(&self.engine, &self.ctx, sql).await;
        let sql = defaults.as_deref().unwrap_or(sql);
        let backend_pid = Some(client.pid_and_secret_key().0);
        let path = client.metadata().get("search_path").cloned();
        let sql = crate::catalog::pg_rewrites::rewrite_for(sql, backend_pid, path.as_deref());
        SimpleQueryHandler::do_query(self.inner.as_ref(), client, &sql).await
    }
}
async fn arm<C: ClientInfo>(client: &C) -> Option<oneshot::Receiver<()>> {
    let handle = client.session_extensions().get::<Arc<ConnectionHandle>>()?;
    let receiver = handle.start_query().await;
    // A pg_cancel_backend that arrived while no signal was armed.
    if client
        .session_extensions()
        .get::<Registered>()
        .is_some_and(|listed| listed.session.take_cancel_request())
    {
        handle.cancel().await;
    }
    Some(receiver)
}

/// When the statement that starts now must end: its session's
/// `statement_timeout` (SET, or the server default given at startup).
fn deadline<C: ClientInfo>(client: &C) -> Option<Instant> {
    client
        .metadata()
        .get(STATEMENT_TIMEOUT_KEY)
        .and_then(|ms| ms.parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map(|ms| Instant::now() + Duration::from_millis(ms))
}

/// Whether the connection's cancel signal fired, shareable by several
/// streams (the statements of one simple-query message). `false` when the
/// sender was replaced: no cancel can reach those streams any more.
type Fired = Shared<BoxFuture<'static, bool>>;

fn fired(cancel: Option<oneshot::Receiver<()>>) -> Option<Fired> {
    cancel.map(|rx| async move { rx.await.is_ok() }.boxed().shared())
}

/// What ends a stream early: a cancel request (57014) or the statement
/// timeout (57014, with PostgreSQL's wording).
fn stopper(
    fired: Option<Fired>,
    deadline: Option<Instant>,
) -> Option<BoxFuture<'static, PgWireError>> {
    if fired.is_none() && deadline.is_none() {
        return None;
    }
    Some(
        async move {
            let cancelled = async {
                let fired = match fired {
                    Some(f) => f.await,
                    None => false,
                };
                if !fired {
                    std::future::pending::<()>().await;
                }
            };
            let timed_out = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = cancelled => PgWireError::QueryCanceled,
                _ = timed_out => statement_timeout(),
            }
        }
        .boxed(),
    )
}

/// PostgreSQL's error for a statement that ran out of time.
pub fn statement_timeout() -> PgWireError {
    super::errors::refuse(
        SqlState::QUERY_CANCELED,
        "canceling statement due to statement timeout",
    )
}

/// Run the part of a statement that happens before its rows stream (planning,
/// and all of a DML statement) under the deadline. Dropping it midway is what
/// a cancel does too: a statement commits atomically or not at all.
async fn within<T>(
    deadline: Option<Instant>,
    work: impl Future<Output = PgWireResult<T>>,
) -> PgWireResult<T> {
    match deadline {
        Some(at) => tokio::time::timeout_at(at, work)
            .await
            .unwrap_or_else(|_| Err(statement_timeout())),
        None => work.await,
    }
}

/// A statement's clock for the query metrics: recorded when dropped, which
/// for a row stream is when its last row has gone out (or it was cut off).
struct QueryTimer {
    protocol: &'static str,
    started: Instant,
    ok: bool,
    /// The session's entry in `information_schema.sessions`, idle again
    /// when the statement ends.
    session: Option<Arc<Registered>>,
}

impl QueryTimer {
    fn start(protocol: &'static str) -> Self {
        Self {
            protocol,
            started: Instant::now(),
            ok: true,
            session: None,
        }
    }

    /// Start timing `query` in `client`'s session, showing it as active.
    fn start_in<C: ClientInfo>(protocol: &'static str, client: &C, query: &str) -> Self {
        let session = client.session_extensions().get::<Registered>();
        if let Some(listed) = &session {
            listed.session.started(query);
        }
        Self {
            session,
            ..Self::start(protocol)
        }
    }

    /// Record a statement that ended before producing a response.
    fn failed(mut self) {
        self.ok = false;
    }
}

impl Drop for QueryTimer {
    fn drop(&mut self) {
        crate::observability::query(self.protocol, self.ok, self.started.elapsed());
        if let Some(listed) = &self.session {
            listed.session.finished();
        }
    }
}

/// End `response`'s row stream when `stop` fires; the timer stops with the
/// stream.
fn watch(
    response: Response,
    stop: Option<BoxFuture<'static, PgWireError>>,
    mut timer: QueryTimer,
    zone: Option<&str>,
) -> Response {
    let query = match response {
        Response::Query(query) => query,
        other => {
            timer.ok = !matches!(other, Response::Error(_));
            return other;
        }
    };
    let schema = query.row_schema();
    let tag = query.command_tag().to_string();
    let texts = super::text_values::TextColumns::of(&schema, zone);
    // State: the response still streaming, what may stop it, and its clock.
    let rows = futures::stream::unfold(
        (Some(query), stop, timer),
        |(query, stop, mut timer)| async move {
            let mut query = query?;
            let row = match stop {
                Some(mut stop) => {
                    tokio::select! {
                        biased;
                        error = &mut stop => Some((Err(error), None)),
                        row = query.data_rows().next() => row.map(|row| (row, Some(stop))),
                    }
                }
                None => query.data_rows().next().await.map(|row| (row, None)),
            };
            let (row, stop) = row?;
            if row.is_err() {
                timer.ok = false;
                return Some((row, (None, None, timer)));
            }
            Some((row, (Some(query), stop, timer)))
        },
    );
    let rows = rows.map(move |row| match (&texts, row) {
        (Some(texts), Ok(row)) => Ok(texts.rewrite(row)),
        (_, row) => row,
    });
    let mut wrapped = QueryResponse::new(schema, rows.boxed());
    wrapped.set_command_tag(&tag);
    Response::Query(wrapped)
}

#[async_trait]
impl SimpleQueryHandler for Cancellable {
    async fn on_query<C>(&self, client: &mut C, query: Query) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        block_status::settle(client, &self.transaction, false);
        let result = self
            ._on_query(&mut Reporting::new(client, &self.transaction), query)
            .await;
        block_status::settle(client, &self.transaction, result.is_err());
        result
    }

    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        // Statement by statement, as PostgreSQL runs a multi-statement
        // message: a SET takes effect for the statements after it (its
        // statement_timeout among them), and the first error ends the
        // message. The pieces are the original text between top-level
        // semicolons (never text rebuilt from tokens).
        let pieces = sql::parser::split_statements(query)
            .map_err(|e| super::errors::to_pgwire(super::errors::classify(&e)))?;
        if pieces.is_empty() {
            return SimpleQueryHandler::do_query(self.inner.as_ref(), client, query).await;
        }
        // Responses, with their deadlines and clocks, until every statement
        // has run. The cancel signal is armed for their streams only then:
        // pgwire races this whole call against the signal it armed, and
        // arming anew replaces (drops) its sender, which pgwire would take
        // for a cancel of the statements still to run.
        let mut pending: Vec<(Response, Option<Instant>, Option<QueryTimer>)> = Vec::new();
        for piece in &pieces {
            let deadline = deadline(client);
            let timer = QueryTimer::start_in("simple", client, &piece.text);
            let responses = match within(deadline, self.one_statement(client, piece)).await {
                Ok(responses) => responses,
                Err(e) => {
                    timer.failed();
                    if pending.is_empty() {
                        return Err(e);
                    }
                    pending.push((statements::error_response(e), None, None));
                    break;
                }
            };
            let mut timer = Some(timer);
            let mut failed = false;
            for response in responses {
                failed |= matches!(response, Response::Error(_));
                let timer = timer.take().unwrap_or_else(|| QueryTimer::start("simple"));
                pending.push((response, deadline, Some(timer)));
            }
            if failed {
                break;
            }
        }
        let streams = pending
            .iter()
            .any(|(r, _, _)| matches!(r, Response::Query(_)));
        let signal = if streams {
            fired(arm(client).await)
        } else {
            None
        };
        let zone = client.metadata().get("timezone").cloned();
        let out = pending
            .into_iter()
            .map(|(response, deadline, timer)| {
                // An error ending the message: its statement's clock already stopped.
                let Some(timer) = timer else {
                    return response;
                };
                let stop = match &response {
                    Response::Query(_) => stopper(signal.clone(), deadline),
                    _ => None,
                };
                watch(response, stop, timer, zone.as_deref())
            })
            .collect();
        Ok(out)
    }
}

#[async_trait]
impl ExtendedQueryHandler for Cancellable {
    type Statement = <DfSessionService as ExtendedQueryHandler>::Statement;
    type QueryParser = BrookParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.parser.clone()
    }

    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        block_status::settle(client, &self.transaction, false);
        let result = self
            ._on_execute(&mut Reporting::new(client, &self.transaction), message)
            .await;
        block_status::settle(client, &self.transaction, result.is_err());
        result
    }

    /// The end of an extended-protocol exchange: the status after it is the
    /// transaction's (an error while parsing or binding fails an open block).
    async fn on_sync<C>(&self, client: &mut C, _message: PgSync) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        block_status::settle(client, &self.transaction, false);
        client.portal_store().rm_portal(pgwire::api::DEFAULT_NAME);
        let status = client.transaction_status();
        client
            .send(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(
                status,
            )))
            .await?;
        client.flush().await?;
        Ok(())
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Some(statement) = self.parser.statement(&portal.statement.statement)? {
            self.refuse_in_failed_block()?;
            return statements::answer(
                &self.engine,
                &self.ctx,
                Statement::clone(&statement),
                &portal.statement.statement.0,
                client,
                &portal.result_column_format,
            )
            .await;
        }
        let deadline = deadline(client);
        // The hooks that answer with rows of their own (INSERT … RETURNING)
        // find there the formats the client asked its results in.
        client
            .session_extensions()
            .insert(ResultFormat(portal.result_column_format.clone()));
        let timer = QueryTimer::start_in("extended", client, &portal.statement.statement.0);
        let plain = super::numeric_params::plain(portal);
        let portal = plain.as_ref().unwrap_or(portal);
        let texts = match super::text_params::as_text(portal) {
            Ok(texts) => texts,
            Err(e) => {
                timer.failed();
                return Err(e);
            }
        };
        let portal = texts.as_ref().unwrap_or(portal);
        let response = match within(
            deadline,
            ExtendedQueryHandler::do_query(self.inner.as_ref(), client, portal, max_rows),
        )
        .await
        {
            Ok(response) => response,
            Err(e) => {
                timer.failed();
                return Err(e);
            }
        };
        let stop = match &response {
            Response::Query(_) => stopper(fired(arm(client).await), deadline),
            _ => None,
        };
        let zone = client.metadata().get("timezone").cloned();
        Ok(watch(response, stop, timer, zone.as_deref()))
    }
}

/// The result formats of the portal being executed (extended protocol).
pub struct ResultFormat(pub Format);

/// The protocol's CancelRequest: pgwire checks the pid and secret key and
/// fires the connection's signal; Brook then also records the request on the
/// session, the way `pg_cancel_backend` does, so that a request landing
/// between the planning and the streaming arm still cancels the statement.
pub struct CancelRequests {
    connections: Arc<pgwire::api::ConnectionManager>,
    sessions: Arc<crate::observability::sessions::Sessions>,
}

impl CancelRequests {
    pub fn new(
        connections: Arc<pgwire::api::ConnectionManager>,
        sessions: Arc<crate::observability::sessions::Sessions>,
    ) -> Self {
        Self {
            connections,
            sessions,
        }
    }
}

#[async_trait]
impl pgwire::api::cancel::CancelHandler for CancelRequests {
    async fn on_cancel_request(&self, request: pgwire::messages::cancel::CancelRequest) {
        if self
            .connections
            .cancel(request.pid, &request.secret_key)
            .await
        {
            self.sessions.cancel(request.pid);
        }
    }
}
