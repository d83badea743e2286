//! Who may do what: every table, view and schema has an owner and an
//! access control list ([`acl`]), kept in its catalog entry (so that it
//! follows a rename, goes with a drop and takes part in a transaction as
//! a comment does). The catalog publishes them here, where every check
//! reads them without waiting for a DDL statement: the analyzer rule that
//! checks each query's plan ([`plan_check`]), the check of Brook's own
//! statements (`sql::authorize`), `has_table_privilege` and the system
//! tables that list grants.
//!
//! Tables may also have row-level security ([`row_security`]): policies
//! that the same analyzer rule puts into the plan as filters and checks.
//!
//! A denied statement answers 42501 `permission denied for table t` and
//! does nothing, as in PostgreSQL.

pub mod acl;
pub mod default_acl;
pub mod functions;
pub mod plan_check;
pub mod policies_table;
mod row_filter;
pub mod row_security;
pub mod table_privileges;
pub mod view_boundary;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

pub use acl::{Acl, ObjectKind, PUBLIC, Privilege, PrivilegeSet};

use super::names::QualifiedName;
use super::roles::Roles;
use crate::error::{BrookError, Result};

/// Whether a relation is a table or a view (what errors and
/// `information_schema` call it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationKind {
    Table,
    View,
}

/// The committed owners and grants, as the catalog last wrote them.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub relations: HashMap<QualifiedName, (RelationKind, Acl)>,
    pub schemas: HashMap<String, Acl>,
    pub database: Acl,
    /// `ALTER DEFAULT PRIVILEGES`.
    pub default_acls: Vec<default_acl::DefaultAcl>,
    /// The tables with row-level security or policies, compiled.
    pub row_security: HashMap<QualifiedName, Arc<row_security::TablePolicies>>,
}

/// The models' owners and grants, by model name (the ML registry
/// publishes them).
pub type ModelAcls = HashMap<String, Acl>;

/// The owners and grants every check reads, and the roles they name.
#[derive(Debug, Clone)]
pub struct Privileges {
    snapshot: Arc<RwLock<Arc<Snapshot>>>,
    models: Arc<RwLock<Arc<ModelAcls>>>,
    /// Each pipeline's owner (the pipelines publish them).
    pipelines: Arc<RwLock<Arc<HashMap<String, i32>>>>,
    roles: Roles,
}

impl Privileges {
    pub fn new(roles: Roles) -> Self {
        Self {
            snapshot: Arc::default(),
            models: Arc::default(),
            pipelines: Arc::default(),
            roles,
        }
    }

    pub fn roles(&self) -> &Roles {
        &self.roles
    }

    /// Replace the snapshot (the catalog, after each write).
    pub fn publish(&self, snapshot: Snapshot) {
        if let Ok(mut held) = self.snapshot.write() {
            *held = Arc::new(snapshot);
        }
    }

    /// Replace the models' owners and grants (the ML registry, after each change).
    pub fn publish_models(&self, models: ModelAcls) {
        if let Ok(mut held) = self.models.write() {
            *held = Arc::new(models);
        }
    }

    /// Replace the pipelines' owners (the pipelines, after each change).
    pub fn publish_pipelines(&self, owners: HashMap<String, i32>) {
        if let Ok(mut held) = self.pipelines.write() {
            *held = Arc::new(owners);
        }
    }

    /// The pipelines `who` may see (and whose set-aside messages it may
    /// read): those it owns or is a member of the owner of.
    pub fn visible_pipelines(&self, who: &Identity) -> Vec<String> {
        let owners = self.pipelines.read().map(|p| p.clone()).unwrap_or_default();
        let mut names: Vec<String> = owners
            .iter()
            .filter(|(_, owner)| who.superuser || who.oids.contains(owner))
            .map(|(name, _)| name.clone())
            .collect();
        names.sort();
        names
    }

    pub fn models(&self) -> Arc<ModelAcls> {
        self.models.read().map(|m| m.clone()).unwrap_or_default()
    }

    /// Check that `who` may use model `name` (PREDICT, EVALUATE): USAGE.
    pub fn check_model(&self, who: &Identity, name: &str) -> Result<()> {
        if who.superuser {
            return Ok(());
        }
        match self.models().get(name) {
            Some(acl)
                if !acl
                    .held(ObjectKind::Model, &who.oids)
                    .0
                    .contains(Privilege::Usage) =>
            {
                Err(BrookError::NotAllowed(format!(
                    "permission denied for model {name}"
                )))
            }
            _ => Ok(()),
        }
    }

    /// Check that `who` owns model `name` (REFRESH, DROP, GRANT).
    pub fn check_model_owner(&self, who: &Identity, name: &str) -> Result<()> {
        if who.superuser {
            return Ok(());
        }
        match self.models().get(name) {
            Some(acl) if !who.oids.contains(&acl.owner) => Err(not_owner("model", name)),
            _ => Ok(()),
        }
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.read().map(|s| s.clone()).unwrap_or_default()
    }

    /// The identity a check of `role` compares grants with: its OID, the
    /// roles it inherits the privileges of, and PUBLIC. `None` for a name
    /// no role has (it holds nothing).
    pub fn identity(&self, role: &str) -> Identity {
        let superuser = self.roles.is_superuser(role);
        let mut oids = self.roles.effective_oids(role);
        if superuser && self.roles.oid_of(role).is_none() {
            // A name the open server trusts acts as its bootstrap superuser.
            oids.insert(0, acl::BOOTSTRAP_OWNER);
        }
        Identity {
            superuser,
            oids,
            name: role.to_string(),
        }
    }

    /// The identity of the owner of relation `name`, which a view's own
    /// query is checked against.
    pub fn owner_identity(&self, name: &QualifiedName) -> Option<Identity> {
        let owner = self.snapshot().relations.get(name)?.1.owner;
        Some(self.identity(&self.roles.name_of(owner)))
    }

    /// The policies `who` is held to on table `name`: `None` when its row
    /// level security is off, or `who` is a superuser or (unless FORCE)
    /// its owner.
    pub fn row_policies(
        &self,
        who: &Identity,
        name: &QualifiedName,
    ) -> Option<Arc<row_security::TablePolicies>> {
        if who.superuser {
            return None;
        }
        let snapshot = self.snapshot();
        let policies = snapshot.row_security.get(name)?;
        if !policies.enabled {
            return None;
        }
        let owner = snapshot
            .relations
            .get(name)
            .is_some_and(|(_, acl)| who.oids.contains(&acl.owner));
        if owner && !policies.forced {
            return None;
        }
        Some(policies.clone())
    }

    /// Check that `who` holds `privilege` on relation `name`. A relation
    /// the snapshot does not know (a temporary table, a system table, one
    /// the session's own open transaction created) is not checked here.
    pub fn check_relation(
        &self,
        who: &Identity,
        name: &QualifiedName,
        privilege: Privilege,
    ) -> Result<()> {
        if who.superuser {
            return Ok(());
        }
        let snapshot = self.snapshot();
        let Some((kind, acl)) = snapshot.relations.get(name) else {
            return Ok(());
        };
        // Reaching anything in a schema takes USAGE on it, as in PostgreSQL.
        if let Some(schema) = snapshot.schemas.get(&name.schema)
            && !schema
                .held(ObjectKind::Schema, &who.oids)
                .0
                .contains(Privilege::Usage)
        {
            return Err(BrookError::NotAllowed(format!(
                "permission denied for schema {}",
                name.schema
            )));
        }
        if acl
            .held(ObjectKind::Relation, &who.oids)
            .0
            .contains(privilege)
        {
            return Ok(());
        }
        Err(denied(*kind, &name.name))
    }

    /// Check that `who` owns relation `name` (or is a member of its
    /// owner, or a superuser): what ALTER, DROP, COMMENT and GRANT need.
    pub fn check_relation_owner(&self, who: &Identity, name: &QualifiedName) -> Result<()> {
        if who.superuser {
            return Ok(());
        }
        let snapshot = self.snapshot();
        match snapshot.relations.get(name) {
            Some((kind, acl)) if !who.oids.contains(&acl.owner) => {
                Err(not_owner(relation_noun(*kind), &name.name))
            }
            _ => Ok(()),
        }
    }

    /// Whether `who` owns relation `name` (false for one the snapshot does
    /// not know).
    pub fn owns_relation(&self, who: &Identity, name: &QualifiedName) -> bool {
        who.superuser
            || self
                .snapshot()
                .relations
                .get(name)
                .is_some_and(|(_, acl)| who.oids.contains(&acl.owner))
    }

    /// Check that `who` holds `privilege` on schema `schema`.
    pub fn check_schema(&self, who: &Identity, schema: &str, privilege: Privilege) -> Result<()> {
        if who.superuser {
            return Ok(());
        }
        let snapshot = self.snapshot();
        let Some(acl) = snapshot.schemas.get(schema) else {
            return Ok(());
        };
        if acl
            .held(ObjectKind::Schema, &who.oids)
            .0
            .contains(privilege)
        {
            return Ok(());
        }
        Err(BrookError::NotAllowed(format!(
            "permission denied for schema {schema}"
        )))
    }

    /// Check that `who` owns schema `schema`.
    pub fn check_schema_owner(&self, who: &Identity, schema: &str) -> Result<()> {
        if who.superuser {
            return Ok(());
        }
        let snapshot = self.snapshot();
        match snapshot.schemas.get(schema) {
            Some(acl) if !who.oids.contains(&acl.owner) => Err(not_owner("schema", schema)),
            _ => Ok(()),
        }
    }

    /// Check that `who` may make models (CREATE MODEL on the database):
    /// superusers, and roles granted it.
    pub fn check_create_model(&self, who: &Identity) -> Result<()> {
        if who.superuser
            || self
                .snapshot()
                .database
                .held(ObjectKind::Database, &who.oids)
                .0
                .contains(Privilege::CreateModel)
        {
            return Ok(());
        }
        Err(BrookError::NotAllowed(
            "permission denied to create model".to_string(),
        ))
    }

    /// Check that `who` may create schemas (CREATE on the database).
    pub fn check_database_create(&self, who: &Identity) -> Result<()> {
        if who.superuser
            || self
                .snapshot()
                .database
                .held(ObjectKind::Database, &who.oids)
                .0
                .contains(Privilege::Create)
        {
            return Ok(());
        }
        Err(BrookError::NotAllowed(format!(
            "permission denied for database {}",
            super::DATABASE
        )))
    }

    /// Whether `who` holds `privilege` on relation `name` (`None`: no such
    /// relation is known).
    pub fn has_relation_privilege(
        &self,
        who: &Identity,
        name: &QualifiedName,
        privilege: Privilege,
    ) -> Option<bool> {
        let snapshot = self.snapshot();
        let (_, acl) = snapshot.relations.get(name)?;
        Some(
            who.superuser
                || acl
                    .held(ObjectKind::Relation, &who.oids)
                    .0
                    .contains(privilege),
        )
    }

    /// Whether `who` holds `privilege` on schema `schema`.
    pub fn has_schema_privilege(
        &self,
        who: &Identity,
        schema: &str,
        privilege: Privilege,
    ) -> Option<bool> {
        let snapshot = self.snapshot();
        let acl = snapshot.schemas.get(schema)?;
        Some(
            who.superuser
                || acl
                    .held(ObjectKind::Schema, &who.oids)
                    .0
                    .contains(privilege),
        )
    }

    /// The objects role `oid` owns, named as DROP ROLE's DETAIL lists them
    /// ("owner of table public.t").
    pub fn owned_by(&self, oid: i32) -> Vec<String> {
        let snapshot = self.snapshot();
        let mut owned: Vec<String> = snapshot
            .relations
            .iter()
            .filter(|(_, (_, acl))| acl.owner == oid)
            .map(|(name, (kind, _))| format!("owner of {} {}", relation_noun(*kind), shown(name)))
            .chain(
                snapshot
                    .schemas
                    .iter()
                    .filter(|(_, acl)| acl.owner == oid)
                    .map(|(schema, _)| format!("owner of schema {schema}")),
            )
            .chain(
                snapshot
                    .default_acls
                    .iter()
                    .filter(|d| d.role == oid)
                    .map(|d| format!("owner of {}", self.defaults_noun(d))),
            )
            .collect();
        owned.sort();
        owned
    }

    /// Default privileges as PostgreSQL's DETAIL names them.
    fn defaults_noun(&self, default: &default_acl::DefaultAcl) -> String {
        let role = self.roles.name_of(default.role);
        match &default.schema {
            Some(schema) => format!(
                "default privileges on new relations belonging to role {role} in schema {schema}"
            ),
            None => format!("default privileges on new relations belonging to role {role}"),
        }
    }

    /// The objects whose grants name role `oid` ("privileges for table t").
    pub fn granted_to(&self, oid: i32) -> Vec<String> {
        let snapshot = self.snapshot();
        let mut granted: Vec<String> = snapshot
            .relations
            .iter()
            .filter(|(_, (_, acl))| acl.mentions(oid))
            .map(|(name, (kind, _))| {
                format!("privileges for {} {}", relation_noun(*kind), shown(name))
            })
            .chain(
                snapshot
                    .schemas
                    .iter()
                    .filter(|(_, acl)| acl.mentions(oid))
                    .map(|(schema, _)| format!("privileges for schema {schema}")),
            )
            .collect();
        for (model, acl) in self.models().iter() {
            if acl.owner == oid {
                granted.push(format!("owner of model {model}"));
            } else if acl.mentions(oid) {
                granted.push(format!("privileges for model {model}"));
            }
        }
        for default in &snapshot.default_acls {
            if default.items.iter().any(|i| i.grantee == oid) {
                granted.push(format!("privileges for {}", self.defaults_noun(default)));
            }
        }
        if snapshot.database.mentions(oid) {
            granted.push(format!("privileges for database {}", super::DATABASE));
        }
        granted.sort();
        granted
    }
}

/// A role as checks see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub superuser: bool,
    /// The role's own OID, those it inherits from, and [`PUBLIC`].
    pub oids: Vec<i32>,
}

impl Identity {
    /// The OID the role itself has (grants it makes name it as grantor).
    pub fn oid(&self) -> i32 {
        self.oids.first().copied().unwrap_or(PUBLIC)
    }
}

/// A relation as PostgreSQL's messages name it: bare in `public`.
fn shown(name: &QualifiedName) -> String {
    if name.schema == super::DEFAULT_SCHEMA {
        name.name.clone()
    } else {
        format!("{}.{}", name.schema, name.name)
    }
}

fn relation_noun(kind: RelationKind) -> &'static str {
    match kind {
        RelationKind::Table => "table",
        RelationKind::View => "view",
    }
}

/// PostgreSQL's 42501 for a missing privilege on a relation.
pub fn denied(kind: RelationKind, name: &str) -> BrookError {
    BrookError::NotAllowed(format!(
        "permission denied for {} {name}",
        relation_noun(kind)
    ))
}

/// PostgreSQL's 42501 for what only an owner may do.
pub fn not_owner(noun: &str, name: &str) -> BrookError {
    BrookError::NotAllowed(format!("must be owner of {noun} {name}"))
}
