//! The roles `pg_roles` lists (psql's `\du`, pgcli's completion): the users
//! of the server's configuration, each a superuser that may log in (Brook has
//! no other kind yet), or `brook` when the server trusts every name.
//!
//! Why a provider of Brook's own: datafusion-pg-catalog 0.19 implements its
//! provider trait for `Arc<T>` by calling itself (`self.roles()` on the
//! `Arc`), so the `Arc<AuthManager>` that datafusion-postgres' examples pass
//! recurses until the stack overflows and the process aborts — one
//! `SELECT … FROM pg_roles` killed the server for everyone
//! (docs/compatibility.md). This type is passed by value, never in an `Arc`.

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::{
    PgCatalogContextProvider, Role,
};

/// The role names, shared with the server that knows its users.
#[derive(Debug, Clone)]
pub struct Roles(Arc<RwLock<Vec<String>>>);

/// The OID `pg_roles` lists the `index`-th role (in name order) with: the
/// first is the bootstrap superuser, 10 as in PostgreSQL, which every
/// object's owner column names (Brook does not track owners yet); the
/// others follow from 16384, the first OID PostgreSQL gives user objects.
/// datafusion-pg-catalog lists every role with OID 0, and pg_dump stopped
/// at "role with OID 10 does not exist".
pub fn role_oid(index: usize) -> i32 {
    match index {
        0 => 10,
        i => 16383_i32.saturating_add(i32::try_from(i).unwrap_or(i32::MAX)),
    }
}

/// The name listed when the server has no configured users.
const DEFAULT_ROLE: &str = "brook";

impl Default for Roles {
    fn default() -> Self {
        Self(Arc::new(RwLock::new(vec![DEFAULT_ROLE.to_string()])))
    }
}

impl Roles {
    /// Replace the listed roles (empty: the default role).
    pub fn set(&self, names: impl IntoIterator<Item = String>) {
        let mut names: Vec<String> = names.into_iter().collect();
        if names.is_empty() {
            names.push(DEFAULT_ROLE.to_string());
        }
        names.sort();
        names.dedup();
        if let Ok(mut held) = self.0.write() {
            *held = names;
        }
    }

    /// The name of the role `pg_roles` lists with `oid`, or the digits, as
    /// PostgreSQL prints a role that does not exist.
    pub fn name_of(&self, oid: i32) -> String {
        self.names()
            .into_iter()
            .enumerate()
            .find(|(i, _)| role_oid(*i) == oid)
            .map(|(_, name)| name)
            .unwrap_or_else(|| oid.to_string())
    }

    fn names(&self) -> Vec<String> {
        self.0.read().map(|n| n.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl PgCatalogContextProvider for Roles {
    async fn roles(&self) -> Vec<String> {
        self.names()
    }

    async fn role(&self, name: &str) -> Option<Role> {
        self.names().iter().any(|n| n == name).then(|| Role {
            name: name.to_string(),
            is_superuser: true,
            can_login: true,
            can_create_db: true,
            can_create_role: true,
            can_create_user: true,
            can_replication: false,
            grants: vec![],
            inherited_roles: vec![],
        })
    }
}
