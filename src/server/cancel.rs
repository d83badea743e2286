//! Cancel requests that reach a query while its rows stream.
//!
//! pgwire races a cancel request against `do_query` only; DataFusion's
//! results are lazy streams that do their work after `do_query` returns, so a
//! long aggregate would never see the cancel. [`Cancellable`] wraps the
//! session service and arms the connection's cancel signal again for the
//! streaming phase: a cancel then ends the stream with SQLSTATE 57014.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion_postgres::DfSessionService;
use futures::channel::oneshot;
use futures::{Sink, StreamExt};
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{QueryResponse, Response};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, ConnectionHandle};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;

use super::extensions::{self, ExtensionParser};
use crate::engine::Engine;
use crate::sql;

/// The session service with cancellation extended to result streaming, and
/// Brook's own statements recognised before datafusion-postgres parses.
pub struct Cancellable {
    inner: Arc<DfSessionService>,
    engine: Arc<Engine>,
    parser: Arc<ExtensionParser>,
}

impl Cancellable {
    pub fn new(inner: Arc<DfSessionService>, engine: Arc<Engine>) -> Self {
        let parser = Arc::new(ExtensionParser::new(engine.clone(), inner.query_parser()));
        Self {
            inner,
            engine,
            parser,
        }
    }

    /// A simple query that mentions Brook's statements: run statement by
    /// statement, Brook's here and the rest by datafusion-postgres; the first
    /// error ends the query, as in Postgres.
    async fn with_extensions<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let pieces = sql::parser::split_statements(query)
            .map_err(|e| super::errors::to_pgwire(super::errors::classify(&e)))?;
        if pieces.is_empty() {
            return SimpleQueryHandler::do_query(self.inner.as_ref(), client, query).await;
        }
        let mut out = Vec::new();
        for piece in pieces {
            let result = match extensions::recognise(&piece) {
                Ok(Some(ext)) => {
                    extensions::execute(&self.engine, ext, &mut *client, &Format::UnifiedText)
                        .await
                        .map(|r| vec![r])
                }
                Ok(None) => SimpleQueryHandler::do_query(self.inner.as_ref(), client, &piece).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(responses) => out.extend(responses),
                Err(e) if out.is_empty() => return Err(e),
                Err(e) => {
                    out.push(extensions::error_response(e));
                    break;
                }
            }
        }
        Ok(out)
    }
}

async fn arm<C: ClientInfo>(client: &C) -> Option<oneshot::Receiver<()>> {
    let handle = client.session_extensions().get::<Arc<ConnectionHandle>>()?;
    Some(handle.start_query().await)
}

/// End `response`'s row stream with 57014 when `cancel` fires.
fn watch(response: Response, cancel: Option<oneshot::Receiver<()>>) -> Response {
    let (query, cancel) = match (response, cancel) {
        (Response::Query(query), Some(cancel)) => (query, cancel),
        (other, _) => return other,
    };
    let schema = query.row_schema();
    let tag = query.command_tag().to_string();
    // State: the response still streaming, and the cancel signal while it can fire.
    let rows = futures::stream::unfold((Some(query), Some(cancel)), |(query, cancel)| async move {
        let mut query = query?;
        match cancel {
            Some(mut cancel) => {
                tokio::select! {
                    biased;
                    fired = &mut cancel => match fired {
                        Ok(()) => Some((Err(PgWireError::QueryCanceled), (None, None))),
                        // The sender was replaced: no cancel can reach this stream any more.
                        Err(_) => query.data_rows().next().await.map(|row| (row, (Some(query), None))),
                    },
                    row = query.data_rows().next() => row.map(|row| (row, (Some(query), Some(cancel)))),
                }
            }
            None => query
                .data_rows()
                .next()
                .await
                .map(|row| (row, (Some(query), None))),
        }
    });
    let mut wrapped = QueryResponse::new(schema, rows.boxed());
    wrapped.set_command_tag(&tag);
    Response::Query(wrapped)
}

#[async_trait]
impl SimpleQueryHandler for Cancellable {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let responses = if sql::parser::mentions_extension(query) {
            self.with_extensions(client, query).await?
        } else {
            SimpleQueryHandler::do_query(self.inner.as_ref(), client, query).await?
        };
        let mut out = Vec::with_capacity(responses.len());
        for response in responses {
            let cancel = match &response {
                Response::Query(_) => arm(client).await,
                _ => None,
            };
            out.push(watch(response, cancel));
        }
        Ok(out)
    }
}

#[async_trait]
impl ExtendedQueryHandler for Cancellable {
    type Statement = <DfSessionService as ExtendedQueryHandler>::Statement;
    type QueryParser = ExtensionParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.parser.clone()
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
        if let (sql, None) = &portal.statement.statement
            && let Some(ext) = extensions::recognise(sql)?
        {
            return extensions::execute(
                &self.engine,
                ext,
                &mut *client,
                &portal.result_column_format,
            )
            .await;
        }
        let response =
            ExtendedQueryHandler::do_query(self.inner.as_ref(), client, portal, max_rows).await?;
        let cancel = match &response {
            Response::Query(_) => arm(client).await,
            _ => None,
        };
        Ok(watch(response, cancel))
    }
}
