//! `CREATE SCHEMA [IF NOT EXISTS] name`: a namespace in Brook's catalog.

use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::SchemaName;

use super::outcome::Outcome;
use crate::catalog::names::normalize;
use crate::engine::Engine;
use crate::error::{BrookError, Result};
use crate::storage::transaction::SessionTransaction;

#[derive(Debug, Clone, PartialEq)]
pub struct CreateSchema {
    pub name: SchemaName,
    pub if_not_exists: bool,
}

impl CreateSchema {
    /// Create the schema; inside `session`'s open transaction it is staged
    /// there (catalog::in_transaction) and exists for others from COMMIT on.
    pub async fn execute(
        self,
        engine: &Engine,
        ctx: &SessionContext,
        session: Option<&SessionTransaction>,
    ) -> Result<Outcome> {
        let who = super::authorize::identity(engine, ctx);
        // `AUTHORIZATION role` names the owner: the creator must be the
        // role or a member of it (or a superuser), as in PostgreSQL.
        let owner = match &self.name {
            SchemaName::NamedAuthorization(_, role) | SchemaName::UnnamedAuthorization(role) => {
                let role = normalize(role);
                let oid = engine.roles.oid_of(&role).ok_or_else(|| {
                    BrookError::UndefinedObject(format!("role \"{role}\" does not exist"))
                })?;
                if !who.superuser && !who.oids.contains(&oid) {
                    return Err(BrookError::NotAllowed(format!(
                        "must be able to SET ROLE \"{role}\""
                    )));
                }
                oid
            }
            SchemaName::Simple(_) => who.oid(),
        };
        let acl = crate::catalog::Acl::owned_by(owner);
        let name = match &self.name {
            SchemaName::Simple(name) | SchemaName::NamedAuthorization(name, _) => {
                let parts: Vec<String> = name
                    .0
                    .iter()
                    .filter_map(|p| p.as_ident().map(normalize))
                    .collect();
                match parts.as_slice() {
                    [schema] => Some(schema.clone()),
                    _ => None,
                }
            }
            SchemaName::UnnamedAuthorization(ident) => Some(normalize(ident)),
        }
        .ok_or_else(|| BrookError::Syntax(format!("invalid schema name {}", self.name)))?;
        match session {
            Some(session) => {
                engine
                    .catalog
                    .stage_create_schema(session, &name, self.if_not_exists, acl)
                    .await?
            }
            None => {
                engine
                    .catalog
                    .create_schema(&name, self.if_not_exists, acl)
                    .await?
            }
        }
        Ok(Outcome::done("CREATE SCHEMA"))
    }
}
