//! Who may connect, and how: `trust` on loopback, SCRAM-SHA-256 for the users
//! of the config file, TLS when it is required, and the connection limit
//! (SPEC §1, the way `pg_hba.conf` and `max_connections` work in PostgreSQL).

mod startup;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pgwire::api::{ConnectionManager, RandomPidSecretKeyGenerator};
use rand::RngCore;

use crate::config::Settings;
use crate::scram;
pub use startup::{Admission, BrookStartup, STATEMENT_TIMEOUT_KEY};

/// How a connection proves who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Any user name is accepted (only where nobody else can reach the server).
    Trust,
    /// SCRAM-SHA-256 against the configured verifier.
    Password,
}

/// The server-wide rules every connection's startup follows.
pub struct Access {
    users: HashMap<String, scram::Verifier>,
    /// The roles `CREATE ROLE` made, once the data directory is open.
    roles: std::sync::OnceLock<crate::catalog::roles::Roles>,
    /// Where logins are recorded, once the data directory is open.
    audit: std::sync::OnceLock<crate::observability::audit::AuditLog>,
    trust_loopback: bool,
    tls_required: bool,
    statement_timeout: Option<Duration>,
    /// How often long DML reports progress (a session default, like the timeout).
    pub(crate) notice_interval: Option<Duration>,
    /// Key for unknown users' stand-in verifiers: random per process, so the
    /// stand-in salts reveal nothing across servers.
    stand_in_key: [u8; 32],
    pids: RandomPidSecretKeyGenerator,
    pub(crate) connections: Arc<ConnectionManager>,
    /// Recent failed logins by address, to slow password guessing.
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

/// Failures older than this are forgotten.
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// The wait before a failed login is answered: the first one's, doubled for
/// each further failure from the same address within the window, up to the cap.
const FIRST_FAILURE_DELAY: Duration = Duration::from_millis(250);
const MAX_FAILURE_DELAY: Duration = Duration::from_secs(8);

impl Access {
    pub fn new(settings: &Settings) -> Self {
        let mut stand_in_key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut stand_in_key);
        Self {
            users: settings
                .users
                .iter()
                .map(|u| (u.name.clone(), u.verifier.clone()))
                .collect(),
            roles: std::sync::OnceLock::new(),
            audit: std::sync::OnceLock::new(),
            trust_loopback: settings.trust_loopback,
            tls_required: settings.tls.as_ref().is_some_and(|t| t.require),
            statement_timeout: settings.statement_timeout,
            notice_interval: settings.notice_interval,
            stand_in_key,
            pids: RandomPidSecretKeyGenerator::default(),
            connections: Arc::new(ConnectionManager::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Record a failed login from `peer` and say how long to wait before
    /// answering it (PostgreSQL's `auth_delay`, growing per address): a
    /// guesser gets a few tries a second at most, from each connection.
    pub(crate) fn failed_login(&self, peer: IpAddr) -> Duration {
        let Ok(mut failures) = self.failures.lock() else {
            return MAX_FAILURE_DELAY;
        };
        let now = Instant::now();
        failures.retain(|_, (_, last)| now.duration_since(*last) < FAILURE_WINDOW);
        let entry = failures.entry(peer).or_insert((0, now));
        entry.0 = entry.0.saturating_add(1);
        entry.1 = now;
        let doublings = entry.0.saturating_sub(1).min(6);
        (FIRST_FAILURE_DELAY * 2u32.pow(doublings)).min(MAX_FAILURE_DELAY)
    }

    /// A successful login from `peer` clears its failures.
    pub(crate) fn logged_in(&self, peer: IpAddr) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(&peer);
        }
    }

    /// No users means trust, which `Settings` allows on loopback listeners
    /// only; with users, a password unless `trust_loopback` covers this peer.
    pub fn method(&self, peer: &SocketAddr) -> Method {
        if self.users.is_empty() || (self.trust_loopback && peer.ip().is_loopback()) {
            Method::Trust
        } else {
            Method::Password
        }
    }

    /// Whether `user` may log in by trust: any name on a server without
    /// users; otherwise a configured user or a role made with LOGIN.
    pub(crate) fn role_exists(&self, user: &str) -> bool {
        self.users.is_empty()
            || self.users.contains_key(user)
            || self
                .roles
                .get()
                .and_then(|roles| roles.created(user))
                .is_some_and(|role| role.login)
    }

    /// From now on a role `CREATE ROLE … LOGIN PASSWORD` made logs in too.
    pub fn attach_roles(&self, roles: crate::catalog::roles::Roles) {
        let _ = self.roles.set(roles);
    }

    /// From now on logins are recorded in `audit` too.
    pub fn attach_audit(&self, audit: crate::observability::audit::AuditLog) {
        let _ = self.audit.set(audit);
    }

    /// Record a login attempt from `client` as `user`, checked by `method`.
    pub(crate) async fn audit_login(
        &self,
        user: &str,
        client: std::net::SocketAddr,
        pid: Option<i32>,
        method: &str,
        outcome: crate::observability::audit::Outcome,
    ) {
        let Some(audit) = self.audit.get() else {
            return;
        };
        let actor = crate::observability::audit::Actor {
            role: user.to_string(),
            login_role: user.to_string(),
            client,
            pid,
        };
        audit.authentication(&actor, method, outcome).await;
    }

    /// `ALTER ROLE … SET`'s settings of `user` (setting name, value).
    pub(crate) fn role_settings(&self, user: &str) -> Vec<(String, String)> {
        self.roles
            .get()
            .and_then(|roles| roles.created(user))
            .map(|role| role.settings.into_iter().collect())
            .unwrap_or_default()
    }

    /// The `CONNECTION LIMIT` of a created role that is no superuser
    /// (superusers are not held to it, as in PostgreSQL).
    pub(crate) fn connection_limit(&self, user: &str) -> Option<usize> {
        let role = self.roles.get()?.created(user)?;
        if role.superuser {
            return None;
        }
        usize::try_from(role.connection_limit).ok()
    }

    /// The user's verifier (a configured user's, else a created role's that
    /// may log in now), or a stand-in that fails the same way.
    fn verifier(&self, user: &str) -> scram::Verifier {
        self.users
            .get(user)
            .cloned()
            .or_else(|| self.roles.get()?.login_verifier(user))
            .unwrap_or_else(|| scram::Verifier::stand_in(user, &self.stand_in_key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ServeArgs, User};

    #[test]
    fn trust_only_where_the_settings_allow_it() {
        let mut settings = Settings::resolve(&ServeArgs::default()).unwrap();
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let remote: SocketAddr = "10.0.0.7:5000".parse().unwrap();
        assert_eq!(Access::new(&settings).method(&local), Method::Trust);

        settings.users.push(User {
            name: "analyst".into(),
            verifier: scram::Verifier::from_password("pw"),
        });
        let access = Access::new(&settings);
        assert_eq!(access.method(&local), Method::Password);
        assert_eq!(access.method(&remote), Method::Password);

        let peer = local.ip();
        assert_eq!(access.failed_login(peer), FIRST_FAILURE_DELAY);
        assert_eq!(access.failed_login(peer), FIRST_FAILURE_DELAY * 2);
        for _ in 0..10 {
            access.failed_login(peer);
        }
        assert_eq!(access.failed_login(peer), MAX_FAILURE_DELAY);
        access.logged_in(peer);
        assert_eq!(access.failed_login(peer), FIRST_FAILURE_DELAY);

        settings.trust_loopback = true;
        let access = Access::new(&settings);
        assert_eq!(access.method(&local), Method::Trust);
        assert_eq!(access.method(&remote), Method::Password);
    }
}
