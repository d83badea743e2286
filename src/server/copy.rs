//! The COPY-in sub-protocol: buffer the client's CopyData, load it on CopyDone.

use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use futures::{Sink, SinkExt};
use pgwire::api::ClientInfo;
use pgwire::api::copy::CopyHandler;
use pgwire::api::results::{CopyResponse, Response, Tag};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::copy::{CopyData, CopyDone, CopyFail};

use super::errors::brook_to_pgwire;
use crate::engine::Engine;
use crate::error::BrookError;
use crate::sql::copy::{self, CopySpec};
use crate::storage::transaction::SessionTransaction;

/// Largest COPY payload held for one statement; beyond it the COPY fails
/// (SQLSTATE 54000) rather than exhausting the server's memory.
pub const MAX_COPY_BYTES: usize = 1 << 30;

/// A `COPY … FROM STDIN` between its start and the client's CopyDone.
pub struct PendingCopy {
    pub spec: CopySpec,
    pub data: Vec<u8>,
    /// `data`'s bytes drawn from the server's memory pool, so that COPY
    /// buffers count against `memory_limit` like a query's sort does.
    pub reservation: MemoryReservation,
}

/// The per-session slot for the COPY in progress (at most one per session).
#[derive(Default)]
pub struct CopySlot(pub Mutex<Option<PendingCopy>>);

/// Start a `COPY … FROM STDIN`: remember what to load, and ask the client for its data.
pub fn begin<C: ClientInfo + ?Sized>(engine: &Engine, spec: CopySpec, client: &C) -> Response {
    let columns = spec.columns.len();
    let slot = client
        .session_extensions()
        .get_or_insert_with(CopySlot::default);
    if let Ok(mut pending) = slot.0.lock() {
        let reservation =
            MemoryConsumer::new("COPY FROM STDIN").register(&engine.ctx.runtime_env().memory_pool);
        *pending = Some(PendingCopy {
            spec,
            data: Vec::new(),
            reservation,
        });
    }
    Response::CopyIn(CopyResponse::new(0, columns, futures::stream::empty()))
}

pub struct CopyIn {
    engine: Arc<Engine>,
}

impl CopyIn {
    pub fn new(engine: Arc<Engine>) -> Self {
        Self { engine }
    }
}

fn take_pending<C: ClientInfo>(client: &C) -> Option<PendingCopy> {
    client
        .session_extensions()
        .get::<CopySlot>()
        .and_then(|slot| slot.0.lock().ok().and_then(|mut p| p.take()))
}

#[async_trait]
impl CopyHandler for CopyIn {
    async fn on_copy_data<C>(&self, client: &mut C, copy_data: CopyData) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let Some(slot) = client.session_extensions().get::<CopySlot>() else {
            return Ok(());
        };
        let mut refusal = None;
        if let Ok(mut pending) = slot.0.lock()
            && let Some(p) = pending.as_mut()
        {
            if p.data.len() + copy_data.data.len() > MAX_COPY_BYTES {
                refusal = Some(BrookError::ProgramLimit(format!(
                    "COPY data exceeds {MAX_COPY_BYTES} bytes; split it into several COPY statements"
                )));
            } else if let Err(e) = p.reservation.try_grow(copy_data.data.len()) {
                refusal = Some(BrookError::OutOfMemory(format!(
                    "the COPY's data needs more than the server's memory_limit leaves free ({})",
                    e.strip_backtrace()
                )));
            } else {
                p.data.extend_from_slice(&copy_data.data);
            }
            if refusal.is_some() {
                *pending = None;
            }
        }
        if let Some(e) = refusal {
            return Err(brook_to_pgwire(e));
        }
        Ok(())
    }

    async fn on_copy_done<C>(&self, client: &mut C, _done: CopyDone) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let Some(pending) = take_pending(client) else {
            return Err(brook_to_pgwire(BrookError::Syntax(
                "COPY data arrived with no COPY in progress".into(),
            )));
        };
        let session = client.session_extensions().get::<Arc<SessionTransaction>>();
        let session = session.as_deref().map(Arc::as_ref);
        let rows = copy::load(&self.engine, session, &pending.spec, &pending.data)
            .await
            .map_err(brook_to_pgwire)?;
        let tag = Tag::new("COPY").with_rows(rows as usize);
        client
            .send(PgWireBackendMessage::CommandComplete(tag.into()))
            .await?;
        Ok(())
    }

    async fn on_copy_fail<C>(&self, client: &mut C, fail: CopyFail) -> PgWireError
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let _ = take_pending(client);
        super::errors::refuse(
            crate::error::SqlState::QUERY_CANCELED,
            format!("COPY from stdin failed: {}", fail.message),
        )
    }
}
