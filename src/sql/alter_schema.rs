//! `ALTER SCHEMA name OWNER TO role`, which pg_dump writes for every schema
//! it restores (`ALTER SCHEMA public OWNER TO …`): accepted for a schema
//! that exists, which keeps its one owner (Brook has no owners until roles
//! and privileges arrive), as `ALTER TABLE … OWNER TO` is. `RENAME TO`
//! would move every table, view and pipeline target in the schema and is
//! refused (0A000) rather than half done.

use datafusion::sql::sqlparser::ast::{self, AlterSchemaOperation};

use super::outcome::Outcome;
use crate::catalog::names::normalize;
use crate::engine::Engine;
use crate::error::{BrookError, Result};
use crate::storage::transaction::SessionTransaction;

/// An `ALTER SCHEMA` as sqlparser parsed it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlterSchema(pub ast::AlterSchema);

impl AlterSchema {
    pub async fn execute(
        self,
        engine: &Engine,
        ctx: &datafusion::prelude::SessionContext,
        session: Option<&SessionTransaction>,
    ) -> Result<Outcome> {
        let name = match self.0.name.0.as_slice() {
            [ast::ObjectNamePart::Identifier(ident)] => normalize(ident),
            _ => {
                return Err(BrookError::UndefinedSchema(self.0.name.to_string()));
            }
        };
        let exists = engine.catalog.schema_exists_for(session, &name).await;
        if !exists && !self.0.if_exists {
            return Err(BrookError::UndefinedSchema(name));
        }
        for operation in &self.0.operations {
            match operation {
                AlterSchemaOperation::OwnerTo { owner } if exists => {
                    let who = super::authorize::identity(engine, ctx);
                    let owner = super::grant::owner_name(owner, &who);
                    let target = crate::catalog::grants::AclTarget::Schema {
                        schema: name.clone(),
                    };
                    super::grant::change_owner(engine, ctx, session, target, &owner).await?;
                }
                AlterSchemaOperation::OwnerTo { .. } => {}
                other => {
                    return Err(BrookError::Unsupported(format!("ALTER SCHEMA … {other}")));
                }
            }
        }
        Ok(Outcome::done("ALTER SCHEMA"))
    }
}
