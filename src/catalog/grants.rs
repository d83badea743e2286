//! Where an object's owner and grants live in the catalog file, for
//! `GRANT`, `REVOKE` and `ALTER … OWNER TO`: in the entry of the table or
//! view, in the schema's slot, or the database's. Setting them is a schema
//! change like a comment (catalog::in_transaction): it takes part in the
//! transaction, and a ROLLBACK takes it back.

use serde::{Deserialize, Serialize};

use super::CatalogFile;
use super::names::QualifiedName;
use super::privileges::Acl;
use super::privileges::default_acl::DefaultAcl;
use crate::error::{BrookError, Result};

/// What an ACL guards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "object", rename_all = "snake_case")]
pub enum AclTarget {
    /// A table or a view.
    Relation {
        relation: QualifiedName,
    },
    Schema {
        schema: String,
    },
    Database,
    /// `ALTER DEFAULT PRIVILEGES [FOR ROLE role] [IN SCHEMA schema]`: the
    /// grants of what `role` creates (the ACL's owner is the role).
    Defaults {
        role: i32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        schema: Option<String>,
    },
}

/// The owner and grants of `target` in `file`.
pub(super) fn get(file: &CatalogFile, target: &AclTarget) -> Result<Acl> {
    match target {
        AclTarget::Relation { relation } => file
            .tables
            .iter()
            .find(|t| t.schema == relation.schema && t.name == relation.name)
            .map(|t| t.acl.clone())
            .or_else(|| {
                file.views
                    .iter()
                    .find(|v| v.schema == relation.schema && v.name == relation.name)
                    .map(|v| v.acl.clone())
            })
            .ok_or_else(|| BrookError::UndefinedTable(relation.name.clone())),
        AclTarget::Schema { schema } => {
            if !file.schemas.contains(schema) {
                return Err(BrookError::UndefinedSchema(schema.clone()));
            }
            Ok(file.schema_acls.get(schema).cloned().unwrap_or_default())
        }
        AclTarget::Database => Ok(file.database_acl.clone()),
        AclTarget::Defaults { role, schema } => {
            if let Some(schema) = schema.as_ref().filter(|s| !file.schemas.contains(s)) {
                return Err(BrookError::UndefinedSchema(schema.clone()));
            }
            Ok(file
                .default_acls
                .iter()
                .find(|d| d.role == *role && d.schema == *schema)
                .map(DefaultAcl::as_acl)
                .unwrap_or(Acl {
                    owner: *role,
                    items: Some(vec![]),
                }))
        }
    }
}

/// Set the owner and grants of `target` in `file`.
pub(super) fn set(file: &mut CatalogFile, target: &AclTarget, acl: Acl) -> Result<()> {
    match target {
        AclTarget::Relation { relation } => {
            let same =
                |schema: &str, name: &str| schema == relation.schema && name == relation.name;
            if let Some(table) = file.tables.iter_mut().find(|t| same(&t.schema, &t.name)) {
                table.acl = acl;
            } else if let Some(view) = file.views.iter_mut().find(|v| same(&v.schema, &v.name)) {
                view.acl = acl;
            } else {
                return Err(BrookError::UndefinedTable(relation.name.clone()));
            }
        }
        AclTarget::Schema { schema } => {
            if !file.schemas.contains(schema) {
                return Err(BrookError::UndefinedSchema(schema.clone()));
            }
            file.schema_acls.insert(schema.clone(), acl);
        }
        AclTarget::Database => file.database_acl = acl,
        AclTarget::Defaults { role, schema } => {
            if let Some(schema) = schema.as_ref().filter(|s| !file.schemas.contains(s)) {
                return Err(BrookError::UndefinedSchema(schema.clone()));
            }
            file.default_acls
                .retain(|d| !(d.role == *role && d.schema == *schema));
            let items = acl.items.unwrap_or_default();
            if !items.is_empty() {
                file.default_acls.push(DefaultAcl {
                    role: *role,
                    schema: schema.clone(),
                    items,
                });
            }
        }
    }
    Ok(())
}

impl super::Catalog {
    /// The owner and grants a table or view `owner` creates in `schema`
    /// starts with, as `session` sees the default privileges.
    pub async fn new_relation_acl(
        &self,
        session: Option<&crate::storage::transaction::SessionTransaction>,
        owner: i32,
        schema: &str,
    ) -> Acl {
        let file = self.file_as_seen_by(session).await;
        super::privileges::default_acl::new_relation_acl(&file.default_acls, owner, schema)
    }

    /// The tables and views of `schema` as `session` sees them, each with
    /// whether it is a view (what `GRANT … ON ALL TABLES IN SCHEMA` names).
    pub async fn relations_in(
        &self,
        session: Option<&crate::storage::transaction::SessionTransaction>,
        schema: &str,
    ) -> Vec<(QualifiedName, bool)> {
        let file = self.file_as_seen_by(session).await;
        let name = |s: &str, n: &str| QualifiedName {
            schema: s.to_string(),
            name: n.to_string(),
        };
        file.tables
            .iter()
            .filter(|t| t.schema == schema)
            .map(|t| (name(&t.schema, &t.name), false))
            .chain(
                file.views
                    .iter()
                    .filter(|v| v.schema == schema)
                    .map(|v| (name(&v.schema, &v.name), true)),
            )
            .collect()
    }
}
