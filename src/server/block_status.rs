//! The transaction status each `ReadyForQuery` reports, taken from the
//! session's transaction rather than worked out from the responses.
//!
//! pgwire derives the status from the kind of each response: a
//! `TransactionStart` opens the block, a `TransactionEnd` closes it, an
//! error fails it, and nothing but the end of the block leaves a failed
//! one. PostgreSQL differs twice: `ROLLBACK TO SAVEPOINT` after an error
//! makes the block usable again ('T'), and a `COMMIT` that fails (40001,
//! 23505) has ended the transaction, so the client is idle ('I'), not in a
//! failed block. Drivers act on this byte: psycopg refuses to go on in an
//! 'E' block, and psql shows it in its prompt. The session's transaction
//! (`storage::transaction`) knows which it is, so the query handlers run
//! pgwire's paths over [`Reporting`], a view of the client whose status is
//! the transaction's and which tells the transaction of each error it sends.
//! Errors pgwire sends itself (a statement that fails to parse, a stream
//! that fails while its rows go out) reach the connection past this view;
//! [`settle`] learns of those from the connection's status before the next
//! message and after this one.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Sink;
use pgwire::api::{ClientInfo, ClientPortalStore, PgWireConnectionState, SessionExtensions};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::ProtocolVersion;
use pgwire::messages::response::{ReadyForQuery, TransactionStatus};
use pgwire::messages::startup::SecretKey;

use crate::storage::transaction::{BlockState, SessionTransaction};

/// The status a client is told for `transaction`.
pub fn status(transaction: &SessionTransaction) -> TransactionStatus {
    match transaction.state() {
        BlockState::Idle => TransactionStatus::Idle,
        BlockState::Open => TransactionStatus::Transaction,
        BlockState::Failed => TransactionStatus::Error,
    }
}

/// Bring the connection's status and the transaction into agreement: an
/// error pgwire reported on its own in an open block (the connection says
/// 'E') fails the transaction; then the connection says what the
/// transaction is. `errored`: the handler is returning an error that
/// pgwire is about to report.
pub fn settle<C: ClientInfo>(client: &mut C, transaction: &SessionTransaction, errored: bool) {
    if errored || client.transaction_status() == TransactionStatus::Error {
        transaction.fail();
    }
    client.set_transaction_status(status(transaction));
}

/// A client whose transaction status is the session transaction's.
pub struct Reporting<'a, C> {
    client: &'a mut C,
    transaction: &'a SessionTransaction,
}

impl<'a, C> Reporting<'a, C> {
    pub fn new(client: &'a mut C, transaction: &'a SessionTransaction) -> Self {
        Self {
            client,
            transaction,
        }
    }
}

impl<C: ClientInfo> ClientInfo for Reporting<'_, C> {
    fn socket_addr(&self) -> SocketAddr {
        self.client.socket_addr()
    }

    fn is_secure(&self) -> bool {
        self.client.is_secure()
    }

    fn protocol_version(&self) -> ProtocolVersion {
        self.client.protocol_version()
    }

    fn set_protocol_version(&mut self, version: ProtocolVersion) {
        self.client.set_protocol_version(version)
    }

    fn pid_and_secret_key(&self) -> (i32, SecretKey) {
        self.client.pid_and_secret_key()
    }

    fn set_pid_and_secret_key(&mut self, pid: i32, secret_key: SecretKey) {
        self.client.set_pid_and_secret_key(pid, secret_key)
    }

    fn state(&self) -> PgWireConnectionState {
        self.client.state()
    }

    fn set_state(&mut self, new_state: PgWireConnectionState) {
        self.client.set_state(new_state)
    }

    fn transaction_status(&self) -> TransactionStatus {
        status(self.transaction)
    }

    /// pgwire's own idea of the status is not the truth; the transaction is.
    fn set_transaction_status(&mut self, _: TransactionStatus) {
        self.client.set_transaction_status(status(self.transaction))
    }

    fn metadata(&self) -> &HashMap<String, String> {
        self.client.metadata()
    }

    fn metadata_mut(&mut self) -> &mut HashMap<String, String> {
        self.client.metadata_mut()
    }

    fn session_extensions(&self) -> &SessionExtensions {
        self.client.session_extensions()
    }

    fn sni_server_name(&self) -> Option<&str> {
        self.client.sni_server_name()
    }

    fn client_certificates<'b>(&self) -> Option<&[rustls_pki_types::CertificateDer<'b>]> {
        self.client.client_certificates()
    }
}

impl<C: ClientPortalStore> ClientPortalStore for Reporting<'_, C> {
    type PortalStore = C::PortalStore;

    fn portal_store(&self) -> &Self::PortalStore {
        self.client.portal_store()
    }
}

impl<C> Sink<PgWireBackendMessage> for Reporting<'_, C>
where
    C: Sink<PgWireBackendMessage> + Unpin,
{
    type Error = C::Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut *self.get_mut().client).poll_ready(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: PgWireBackendMessage) -> Result<(), Self::Error> {
        let this = self.get_mut();
        let item = match item {
            PgWireBackendMessage::ErrorResponse(error) => {
                this.transaction.fail();
                PgWireBackendMessage::ErrorResponse(error)
            }
            PgWireBackendMessage::ReadyForQuery(_) => {
                PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(status(this.transaction)))
            }
            other => other,
        };
        Pin::new(&mut *this.client).start_send(item)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut *self.get_mut().client).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Pin::new(&mut *self.get_mut().client).poll_close(cx)
    }
}
