//! One connection's startup: admission (connection limit, TLS), then trust or
//! the SCRAM-SHA-256 exchange, then the session's defaults.
//!
//! Every failure here is FATAL: pgwire returns a connection to the
//! ready-for-query state after an ERROR, which during authentication would
//! let a client skip it.

use std::fmt::Debug;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::{Sink, SinkExt};
use pgwire::api::auth::{
    DefaultServerParameterProvider, StartupHandler, finish_authentication, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use pgwire::api::{ClientInfo, ConnectionHandle, PgWireConnectionState, PidSecretKeyGenerator};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::startup::{Authentication, PasswordMessageFamily};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tracing::{info, warn};

use super::{Access, Method};
use crate::error::SqlState;
use crate::observability::audit::Outcome;
use crate::observability::sessions::Sessions;
use crate::scram::{Exchange, MECHANISM};
use crate::server::Slot;
use crate::server::errors::fatal;
use crate::server::wire_guard;

/// datafusion-postgres keeps a session's statement_timeout under this
/// metadata key (its `SET`/`SHOW statement_timeout` read and write it).
pub const STATEMENT_TIMEOUT_KEY: &str = "statement_timeout_ms";

/// Where a connection's SCRAM exchange stands.
enum Step {
    /// Waiting for the client's first SASL message.
    Initial,
    /// Server-first sent; waiting for the proof.
    Final(Box<Exchange>),
    /// Authenticated, failed, or not using SCRAM.
    Over,
}

/// The startup handler of one connection (pgwire asks for one per socket).
pub struct BrookStartup {
    access: Arc<Access>,
    /// Where the session is listed once it is in (`information_schema.sessions`).
    sessions: Arc<Sessions>,
    /// The connection's places in the counts of connections.
    admission: Mutex<Option<Admission>>,
    step: Mutex<Step>,
    /// The session's context, which takes its settings (its role first)
    /// once it is in.
    ctx: Arc<datafusion::prelude::SessionContext>,
}

/// A connection's place among those logging in, to be exchanged for a place
/// among the sessions (at most `max`) once it has authenticated.
pub struct Admission {
    pub logging_in: Slot,
    pub active: Arc<AtomicUsize>,
    pub max: usize,
}

impl BrookStartup {
    pub fn new(
        access: Arc<Access>,
        sessions: Arc<Sessions>,
        admission: Admission,
        ctx: Arc<datafusion::prelude::SessionContext>,
    ) -> Self {
        Self {
            access,
            sessions,
            admission: Mutex::new(Some(admission)),
            step: Mutex::new(Step::Over),
            ctx,
        }
    }

    /// Give up the place among those logging in for one among the sessions;
    /// 53300 when `max_connections` sessions are in already.
    fn admit<C: ClientInfo>(&self, client: &C) -> PgWireResult<()> {
        let admission = self.admission.lock().ok().and_then(|mut a| a.take());
        let Some(Admission {
            logging_in,
            active,
            max,
        }) = admission
        else {
            return Ok(());
        };
        drop(logging_in);
        let (slot, admitted) = Slot::take(&active, max);
        if !admitted {
            warn!(peer = %client.socket_addr(), max_connections = max, "connection refused: too many clients");
            return Err(fatal(
                SqlState::TOO_MANY_CONNECTIONS,
                "sorry, too many clients already",
            ));
        }
        client.session_extensions().insert(Arc::new(slot));
        Ok(())
    }

    fn set_step(&self, step: Step) {
        if let Ok(mut s) = self.step.lock() {
            *s = step;
        }
    }

    fn take_step(&self) -> Step {
        self.step
            .lock()
            .map(|mut s| std::mem::replace(&mut *s, Step::Over))
            .unwrap_or(Step::Over)
    }

    async fn on_message<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                if self.access.tls_required && !client.is_secure() {
                    return Err(fatal(
                        SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
                        "this server accepts TLS connections only: connect with sslmode=require",
                    ));
                }
                match self.access.method(&client.socket_addr()) {
                    Method::Trust => {
                        // Trust spares the password, not the role: with
                        // users configured, a name no role has is refused.
                        let user = user_name(client);
                        if !self.access.role_exists(&user) {
                            return Err(fatal(
                                SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
                                format!("role \"{user}\" does not exist"),
                            ));
                        }
                        self.finish(client).await
                    }
                    Method::Password => {
                        client.set_state(PgWireConnectionState::AuthenticationInProgress);
                        self.set_step(Step::Initial);
                        client
                            .send(PgWireBackendMessage::Authentication(Authentication::SASL(
                                vec![MECHANISM.to_string()],
                            )))
                            .await?;
                        Ok(())
                    }
                }
            }
            PgWireFrontendMessage::PasswordMessageFamily(message) => {
                let user = user_name(client);
                match self.take_step() {
                    Step::Initial => {
                        if let PasswordMessageFamily::Raw(body) = &message
                            && !wire_guard::sasl_initial_well_formed(body)
                        {
                            return Err(fatal(
                                SqlState::PROTOCOL_VIOLATION,
                                "malformed SASLInitialResponse",
                            ));
                        }
                        let initial = message.into_sasl_initial_response()?;
                        if initial.auth_method != MECHANISM {
                            return Err(fatal(
                                SqlState::INVALID_AUTHORIZATION_SPECIFICATION,
                                format!(
                                    "SASL mechanism \"{}\" is not supported; use {MECHANISM}",
                                    initial.auth_method
                                ),
                            ));
                        }
                        let data = initial.data.unwrap_or_default();
                        let (exchange, server_first) =
                            Exchange::start(self.access.verifier(&user), &data)
                                .map_err(|e| refused(client, &user, &e))?;
                        self.set_step(Step::Final(Box::new(exchange)));
                        client
                            .send(PgWireBackendMessage::Authentication(
                                Authentication::SASLContinue(server_first.into_bytes().into()),
                            ))
                            .await?;
                        Ok(())
                    }
                    Step::Final(exchange) => {
                        let response = message.into_sasl_response()?;
                        let server_final = exchange
                            .finish(&response.data)
                            .map_err(|e| refused(client, &user, &e))?;
                        client
                            .send(PgWireBackendMessage::Authentication(
                                Authentication::SASLFinal(server_final.into_bytes().into()),
                            ))
                            .await?;
                        info!(%user, peer = %client.socket_addr(), "password authentication succeeded");
                        self.access.logged_in(client.socket_addr().ip());
                        self.finish(client).await
                    }
                    Step::Over => Err(fatal(
                        SqlState::PROTOCOL_VIOLATION,
                        "unexpected password message",
                    )),
                }
            }
            _ => Ok(()),
        }
    }

    /// Register for cancel requests, apply the server's session defaults,
    /// and send AuthenticationOk … ReadyForQuery.
    async fn finish<C>(&self, client: &mut C) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        self.admit(client)?;
        let (pid, secret_key) = self.access.pids.generate(client);
        client.set_pid_and_secret_key(pid, secret_key.clone());
        let (handle, guard) = self.access.connections.register(pid, secret_key);
        let metadata = client.metadata();
        let user = metadata.get("user").cloned().unwrap_or_default();
        // Counted before this session is listed; two logins at the same
        // instant may both pass the last place.
        if let Some(limit) = self.access.connection_limit(&user)
            && self.sessions.count_of(&user) >= limit
        {
            return Err(fatal(
                SqlState::TOO_MANY_CONNECTIONS,
                format!("too many connections for role \"{user}\""),
            ));
        }
        crate::server::session_settings::install(&self.ctx, metadata);
        let application = metadata
            .get("application_name")
            .cloned()
            .unwrap_or_default();
        let listed = self.sessions.register(
            pid,
            &user,
            &application,
            client.socket_addr(),
            handle.clone(),
        );
        client
            .session_extensions()
            .insert::<Arc<ConnectionHandle>>(handle);
        client.session_extensions().insert(guard);
        client.session_extensions().insert(listed);
        // The role's own settings (ALTER ROLE … SET) come after what the
        // client's startup set and before the server's defaults.
        for (name, value) in self.access.role_settings(&user) {
            client
                .metadata_mut()
                .entry(crate::server::session_settings::key(&name).to_string())
                .or_insert(value);
        }
        if let Some(timeout) = self.access.statement_timeout {
            client
                .metadata_mut()
                .entry(STATEMENT_TIMEOUT_KEY.to_string())
                .or_insert_with(|| timeout.as_millis().to_string());
        }
        // pgwire announces 16.6; tools act on it (pg_dump refuses a server
        // newer than itself), so the version Brook answers for is sent.
        let mut parameters = DefaultServerParameterProvider::default();
        parameters.server_version = crate::catalog::pg_functions::SERVER_VERSION.to_string();
        finish_authentication(client, &parameters).await?;
        self.access
            .audit_login(
                &user,
                client.socket_addr(),
                Some(pid),
                method_name(self.access.method(&client.socket_addr())),
                Outcome::Success,
            )
            .await;
        Ok(())
    }
}

#[async_trait]
impl StartupHandler for BrookStartup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let result = self.on_message(client, message).await;
        let Err(e) = result else {
            return Ok(());
        };
        self.set_step(Step::Over);
        let info = ErrorInfo::from(e);
        self.access
            .audit_login(
                &user_name(client),
                client.socket_addr(),
                None,
                method_name(self.access.method(&client.socket_addr())),
                Outcome::Failure {
                    sqlstate: info.code.clone(),
                    message: info.message.clone(),
                },
            )
            .await;
        if info.code == SqlState::INVALID_PASSWORD.code() {
            let wait = self.access.failed_login(client.socket_addr().ip());
            tokio::time::sleep(wait).await;
        }
        Err(crate::server::errors::as_fatal(info))
    }
}

/// How a login was checked, as the audit log names it.
fn method_name(method: Method) -> &'static str {
    match method {
        Method::Trust => "trust",
        Method::Password => "password",
    }
}

fn user_name(client: &impl ClientInfo) -> String {
    client
        .metadata()
        .get(pgwire::api::METADATA_USER)
        .cloned()
        .unwrap_or_default()
}

/// The client hears what PostgreSQL says; the log says why.
fn refused(client: &impl ClientInfo, user: &str, reason: &crate::scram::ScramError) -> PgWireError {
    warn!(%user, peer = %client.socket_addr(), %reason, "password authentication failed");
    fatal(
        SqlState::INVALID_PASSWORD,
        format!("password authentication failed for user \"{user}\""),
    )
}
