//! The roles: the users of the server's configuration, each a bootstrap
//! superuser that may log in (or `brook` when the server trusts every
//! name), and the roles `CREATE ROLE` made, kept in `roles.json` in the
//! data directory with their attributes and, for a password, only its
//! SCRAM-SHA-256 verifier (PostgreSQL's format). `pg_roles` (psql's `\du`,
//! pgcli's completion) lists them all; logins check the created roles'
//! verifiers as they do the configured users'.
//!
//! Why a provider of Brook's own: datafusion-pg-catalog 0.19 implements its
//! provider trait for `Arc<T>` by calling itself (`self.roles()` on the
//! `Arc`), so the `Arc<AuthManager>` that datafusion-postgres' examples pass
//! recurses until the stack overflows and the process aborts — one
//! `SELECT … FROM pg_roles` killed the server for everyone
//! (docs/compatibility.md). This type is passed by value, never in an `Arc`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::{
    PgCatalogContextProvider, Role,
};
use serde::{Deserialize, Serialize};

use crate::error::{BrookError, Result};

/// The file the created roles live in.
const ROLES_FILE: &str = "roles.json";

/// The OID of the first bootstrap superuser: 10, as in PostgreSQL, which
/// every object's owner column names (Brook does not track owners yet).
/// datafusion-pg-catalog lists every role with OID 0, and pg_dump stopped
/// at "role with OID 10 does not exist".
pub fn role_oid(index: usize) -> i32 {
    match index {
        0 => 10,
        i => 16383_i32.saturating_add(i32::try_from(i).unwrap_or(i32::MAX)),
    }
}

/// The OIDs `CREATE ROLE` hands out start here, above any bootstrap user's.
const FIRST_CREATED_OID: i32 = 17000;

/// PostgreSQL's predefined roles that Brook gives meaning to, with their
/// PostgreSQL 15 OIDs: membership lets a role cancel other roles' queries
/// (`pg_signal_backend`) and read or write the server's files in the
/// directories the configuration opens to SQL (`pg_read_server_files`,
/// `pg_write_server_files`).
pub const PREDEFINED: &[(&str, i32)] = &[
    (SIGNAL_BACKEND, 4200),
    (READ_SERVER_FILES, 4569),
    (WRITE_SERVER_FILES, 4570),
];
pub const SIGNAL_BACKEND: &str = "pg_signal_backend";
pub const READ_SERVER_FILES: &str = "pg_read_server_files";
pub const WRITE_SERVER_FILES: &str = "pg_write_server_files";

/// Whether `name` is one of [`PREDEFINED`].
pub fn is_predefined(name: &str) -> bool {
    PREDEFINED.iter().any(|(n, _)| *n == name)
}

/// The name listed when the server has no configured users.
const DEFAULT_ROLE: &str = "brook";

/// A role `CREATE ROLE` made, as `roles.json` keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleEntry {
    pub name: String,
    pub oid: i32,
    #[serde(default)]
    pub superuser: bool,
    #[serde(default)]
    pub login: bool,
    #[serde(default)]
    pub createdb: bool,
    #[serde(default)]
    pub createrole: bool,
    #[serde(default = "yes")]
    pub inherit: bool,
    /// The SCRAM-SHA-256 verifier of its password, never the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// `VALID UNTIL`: after it the password no longer logs in (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    /// `CONNECTION LIMIT`; -1: none.
    #[serde(default = "no_limit")]
    pub connection_limit: i32,
    /// The roles `GRANT role TO this` made it a member of, by OID.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub member_of: Vec<i32>,
    /// `ALTER ROLE … SET name = value`: the role's sessions start with
    /// these (unless the client's startup sets them), in milliseconds for
    /// the timeouts.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub settings: std::collections::BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

fn no_limit() -> i32 {
    -1
}

impl RoleEntry {
    /// A role with PostgreSQL's defaults (`CREATE ROLE name`: no login,
    /// inherits, no password); `CREATE USER` adds LOGIN.
    pub fn new(name: String) -> Self {
        Self {
            name,
            oid: 0,
            superuser: false,
            login: false,
            createdb: false,
            createrole: false,
            inherit: true,
            password: None,
            valid_until: None,
            connection_limit: -1,
            member_of: vec![],
            settings: std::collections::BTreeMap::new(),
        }
    }

    /// The verifier a login checks, if the role may log in with a
    /// password now.
    fn login_verifier(&self, now: chrono::DateTime<chrono::Utc>) -> Option<crate::scram::Verifier> {
        if !self.login {
            return None;
        }
        if let Some(until) = &self.valid_until {
            let until = chrono::DateTime::parse_from_rfc3339(until).ok()?;
            if until < now {
                return None;
            }
        }
        self.password.as_ref()?.parse().ok()
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct RolesFile {
    #[serde(default)]
    roles: Vec<RoleEntry>,
}

#[derive(Debug, Default)]
struct Held {
    /// The configured users, sorted (the default role when none).
    bootstrap: Vec<String>,
    /// No users are configured: the server trusts every name, and a name
    /// that is no created role acts as the bootstrap superuser.
    open: bool,
    created: Vec<RoleEntry>,
    /// Where `created` is kept, once the data directory is open.
    file: Option<PathBuf>,
}

/// Every role, shared by the server (logins), the statements that change
/// them and `pg_roles`.
#[derive(Debug, Clone)]
pub struct Roles(Arc<RwLock<Held>>);

impl Default for Roles {
    fn default() -> Self {
        Self(Arc::new(RwLock::new(Held {
            bootstrap: vec![DEFAULT_ROLE.to_string()],
            open: true,
            ..Held::default()
        })))
    }
}

fn poisoned() -> BrookError {
    BrookError::Internal("the roles' lock is poisoned".into())
}

impl Roles {
    /// Replace the bootstrap roles, the configured users (empty: the
    /// default role).
    pub fn set(&self, names: impl IntoIterator<Item = String>) {
        let mut names: Vec<String> = names.into_iter().collect();
        let open = names.is_empty();
        if open {
            names.push(DEFAULT_ROLE.to_string());
        }
        names.sort();
        names.dedup();
        if let Ok(mut held) = self.0.write() {
            held.bootstrap = names;
            held.open = open;
        }
    }

    /// Load the created roles from `data_dir` (none in a new one); later
    /// changes are written there.
    pub fn open(&self, data_dir: &Path) -> Result<()> {
        let path = data_dir.join(ROLES_FILE);
        let file: RolesFile = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| BrookError::CatalogCorrupt(format!("{}: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => RolesFile::default(),
            Err(e) => return Err(e.into()),
        };
        let mut held = self.0.write().map_err(|_| poisoned())?;
        held.created = file.roles;
        // The predefined roles are always there (written down with the
        // others once any role changes; never twice).
        for (name, oid) in PREDEFINED {
            if !held.created.iter().any(|r| r.oid == *oid) {
                let mut role = RoleEntry::new(name.to_string());
                role.oid = *oid;
                held.created.push(role);
            }
        }
        held.file = Some(path);
        Ok(())
    }

    /// Whether `name` is a bootstrap role (a configured user).
    pub fn is_bootstrap(&self, name: &str) -> bool {
        self.0
            .read()
            .is_ok_and(|held| held.bootstrap.iter().any(|b| b == name))
    }

    /// Whether role `name` exists.
    pub fn exists(&self, name: &str) -> bool {
        self.names().iter().any(|n| n == name)
    }

    /// Whether `name` holds the privileges of role `of` (is it, or a member
    /// that inherits from it), or is a superuser.
    pub fn has_privileges_of(&self, name: &str, of: &str) -> bool {
        if self.is_superuser(name) {
            return true;
        }
        match self.oid_of(of) {
            Some(oid) => self.effective_oids(name).contains(&oid),
            None => false,
        }
    }

    /// Whether `name` is a superuser: a bootstrap role, one made so, or,
    /// on a server with no configured users, any name no role has.
    pub fn is_superuser(&self, name: &str) -> bool {
        if self.is_bootstrap(name) {
            return true;
        }
        match self.created(name) {
            Some(role) => role.superuser,
            None => self.is_open(),
        }
    }

    /// Whether the server has no configured users (it trusts every name).
    pub fn is_open(&self) -> bool {
        self.0.read().is_ok_and(|held| held.open)
    }

    /// The OIDs of `name` and every role it is a member of, directly or
    /// not, whatever their INHERIT (what SET ROLE may become).
    /// Every direct membership `GRANT role TO member` made, as
    /// `pg_auth_members` lists it: (role, member, whether the member
    /// inherits its privileges).
    pub fn memberships(&self) -> Vec<(i32, i32, bool)> {
        let Ok(held) = self.0.read() else {
            return vec![];
        };
        held.created
            .iter()
            .flat_map(|r| {
                r.member_of
                    .iter()
                    .map(move |role| (*role, r.oid, r.inherit))
            })
            .collect()
    }

    pub fn member_oids(&self, name: &str) -> Vec<i32> {
        let mut oids: Vec<i32> = self.oid_of(name).into_iter().collect();
        if let Ok(held) = self.0.read() {
            let mut next = 0;
            while next < oids.len() {
                let oid = oids[next];
                next += 1;
                if let Some(role) = held.created.iter().find(|r| r.oid == oid) {
                    for parent in &role.member_of {
                        if !oids.contains(parent) {
                            oids.push(*parent);
                        }
                    }
                }
            }
        }
        oids
    }

    /// The OIDs whose privileges `name` holds: its own, those of the roles
    /// it is a member of and inherits from (transitively), and PUBLIC (0).
    /// A name no role has holds PUBLIC's only.
    pub fn effective_oids(&self, name: &str) -> Vec<i32> {
        let mut oids = vec![];
        if let Some(own) = self.oid_of(name) {
            oids.push(own);
        }
        if let Ok(held) = self.0.read() {
            let mut next = 0;
            while next < oids.len() {
                let oid = oids[next];
                next += 1;
                let Some(role) = held.created.iter().find(|r| r.oid == oid) else {
                    continue;
                };
                // A role without INHERIT uses its memberships through SET ROLE only.
                if !role.inherit {
                    continue;
                }
                for parent in &role.member_of {
                    if !oids.contains(parent) {
                        oids.push(*parent);
                    }
                }
            }
        }
        oids.push(0);
        oids
    }

    /// The created role `name`.
    pub fn created(&self, name: &str) -> Option<RoleEntry> {
        let held = self.0.read().ok()?;
        held.created.iter().find(|r| r.name == name).cloned()
    }

    /// The verifier a password login as `name` checks: a created role's
    /// that may log in now (LOGIN, a password, within VALID UNTIL).
    pub fn login_verifier(&self, name: &str) -> Option<crate::scram::Verifier> {
        self.created(name)?.login_verifier(chrono::Utc::now())
    }

    /// Change the created roles with `change` and write them down; nothing
    /// changes when `change` or the write fails.
    pub fn change<T>(
        &self,
        change: impl FnOnce(&mut Vec<RoleEntry>, &[String]) -> Result<T>,
    ) -> Result<T> {
        let mut held = self.0.write().map_err(|_| poisoned())?;
        let mut next = held.created.clone();
        let answer = change(&mut next, &held.bootstrap)?;
        if let Some(path) = &held.file {
            crate::durable_file::write_json_atomically(
                path,
                &RolesFile {
                    roles: next.clone(),
                },
            )?;
        }
        held.created = next;
        Ok(answer)
    }

    /// An OID no created role has.
    pub fn next_oid(created: &[RoleEntry]) -> i32 {
        created
            .iter()
            .map(|r| r.oid + 1)
            .max()
            .unwrap_or(FIRST_CREATED_OID)
            .max(FIRST_CREATED_OID)
    }

    /// The OID of role `name`.
    pub fn oid_of(&self, name: &str) -> Option<i32> {
        let held = self.0.read().ok()?;
        if let Some(i) = held.bootstrap.iter().position(|b| b == name) {
            return Some(role_oid(i));
        }
        held.created.iter().find(|r| r.name == name).map(|r| r.oid)
    }

    /// The name of the role with `oid`, or the digits, as PostgreSQL
    /// prints a role that does not exist.
    pub fn name_of(&self, oid: i32) -> String {
        let Ok(held) = self.0.read() else {
            return oid.to_string();
        };
        held.bootstrap
            .iter()
            .enumerate()
            .find(|(i, _)| role_oid(*i) == oid)
            .map(|(_, name)| name.clone())
            .or_else(|| {
                held.created
                    .iter()
                    .find(|r| r.oid == oid)
                    .map(|r| r.name.clone())
            })
            .unwrap_or_else(|| oid.to_string())
    }

    /// Every role's name: the bootstrap ones first, then the created ones.
    fn names(&self) -> Vec<String> {
        self.0
            .read()
            .map(|held| {
                held.bootstrap
                    .iter()
                    .cloned()
                    .chain(held.created.iter().map(|r| r.name.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[async_trait]
impl PgCatalogContextProvider for Roles {
    async fn roles(&self) -> Vec<String> {
        self.names()
    }

    async fn role(&self, name: &str) -> Option<Role> {
        if self.is_bootstrap(name) {
            return Some(Role {
                name: name.to_string(),
                is_superuser: true,
                can_login: true,
                can_create_db: true,
                can_create_role: true,
                can_create_user: true,
                can_replication: false,
                grants: vec![],
                inherited_roles: vec![],
            });
        }
        let role = self.created(name)?;
        Some(Role {
            name: role.name,
            is_superuser: role.superuser,
            can_login: role.login,
            can_create_db: role.createdb,
            can_create_role: role.createrole,
            can_create_user: role.createrole,
            can_replication: false,
            grants: vec![],
            inherited_roles: vec![],
        })
    }
}
