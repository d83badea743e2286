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
use pgwire::api::portal::Portal;
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{QueryResponse, Response};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, ConnectionHandle};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;

/// The session service with cancellation extended to result streaming.
pub struct Cancellable {
    inner: Arc<DfSessionService>,
}

impl Cancellable {
    pub fn new(inner: Arc<DfSessionService>) -> Self {
        Self { inner }
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
        let responses = SimpleQueryHandler::do_query(self.inner.as_ref(), client, query).await?;
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
    type QueryParser = <DfSessionService as ExtendedQueryHandler>::QueryParser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.inner.query_parser()
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
        let response =
            ExtendedQueryHandler::do_query(self.inner.as_ref(), client, portal, max_rows).await?;
        let cancel = match &response {
            Response::Query(_) => arm(client).await,
            _ => None,
        };
        Ok(watch(response, cancel))
    }
}
