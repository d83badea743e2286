//! The privilege check of Brook's own statements, in one place on the way
//! to their execution ([`Statement::execute`](super::Statement::execute)
//! calls it before anything runs): what each needs on which object, as
//! PostgreSQL 15 asks it. The queries these statements run inside the
//! session (CREATE TABLE AS, MERGE's source, INSERT … SELECT) are checked
//! again by the plan check (`catalog::privileges::plan_check`); a query
//! that runs elsewhere (COPY's, a model's training query) is planned in
//! the session here and checked the same way.

use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast;

use super::Statement;
use crate::catalog::names::{QualifiedName, normalize, qualify};
use crate::catalog::privileges::plan_check::check_plan;
use crate::catalog::privileges::{Identity, Privilege, Privileges, not_owner};
use crate::catalog::settings;
use crate::engine::Engine;
use crate::error::{BrookError, Result};
use crate::pipeline::definition::DuplicateMode;

/// Who the session runs as. A context that is no session's (a pipeline's,
/// start-up's) acts as the bootstrap superuser.
pub fn identity(engine: &Engine, ctx: &SessionContext) -> Identity {
    let state = ctx.state_ref();
    let state = state.read();
    let config = state.config().options();
    if settings::of(config).is_none() {
        return Identity {
            name: "brook".into(),
            superuser: true,
            oids: vec![crate::catalog::privileges::acl::BOOTSTRAP_OWNER],
        };
    }
    engine
        .catalog
        .privileges()
        .identity(&settings::session_role(config))
}

/// 0A000 for a statement that cannot yet apply row-level security row by
/// row, on a table whose policies hold `who`: an error, never a write
/// past the policies. PostgreSQL refuses `COPY FROM` so too.
pub fn refuse_row_security(
    privileges: &Privileges,
    who: &Identity,
    table: &QualifiedName,
    statement: &str,
) -> Result<()> {
    if privileges.row_policies(who, table).is_some() {
        return Err(BrookError::Unsupported(format!(
            "{statement} into table {} with row-level security",
            table.name
        )));
    }
    Ok(())
}

/// The schema a name is created in (its own, else `public`: the session's
/// path has qualified it already when it is not the default).
fn schema_of(name: &ast::ObjectName) -> Result<String> {
    Ok(qualify(name)?.schema)
}

fn schema_name(name: &ast::ObjectName) -> Result<String> {
    match name.0.as_slice() {
        [part] => part
            .as_ident()
            .map(normalize)
            .ok_or_else(|| BrookError::Syntax(format!("invalid schema name {name}"))),
        _ => Err(BrookError::Syntax(format!("invalid schema name {name}"))),
    }
}

fn table_factor_name(factor: &ast::TableFactor) -> Option<&ast::ObjectName> {
    match factor {
        ast::TableFactor::Table { name, .. } => Some(name),
        _ => None,
    }
}

impl Statement {
    /// Check that the session's role may run the statement; 42501 and
    /// nothing done when it may not.
    pub(super) async fn authorize(&self, engine: &Engine, ctx: &SessionContext) -> Result<()> {
        let who = identity(engine, ctx);
        if who.superuser {
            return Ok(());
        }
        let privileges = engine.catalog.privileges();
        let relation = |name: &ast::ObjectName, privilege: Privilege| -> Result<()> {
            privileges.check_relation(&who, &qualify(name)?, privilege)
        };
        let owner = |name: &ast::ObjectName| -> Result<()> {
            privileges.check_relation_owner(&who, &qualify(name)?)
        };
        let create_in = |name: &ast::ObjectName| -> Result<()> {
            privileges.check_schema(&who, &schema_of(name)?, Privilege::Create)
        };
        match self {
            Statement::CreateTable(s) => create_in(&s.0.name),
            Statement::CreateView(s) => {
                create_in(&s.view.name)?;
                if s.view.or_replace {
                    owner(&s.view.name)?;
                }
                Ok(())
            }
            Statement::CreateSequence(s) => create_in(&s.name),
            Statement::CreateSchema(_) => privileges.check_database_create(&who),
            Statement::DropObjects(s) => match s.object_type {
                ast::ObjectType::Table | ast::ObjectType::View => {
                    s.names.iter().try_for_each(owner)
                }
                ast::ObjectType::Schema => s
                    .names
                    .iter()
                    .try_for_each(|name| privileges.check_schema_owner(&who, &schema_name(name)?)),
                ast::ObjectType::Sequence => s
                    .names
                    .iter()
                    .try_for_each(|name| sequence_owner(engine, privileges, &who, name)),
                // An index is its table owner's to drop.
                ast::ObjectType::Index => {
                    let session = crate::storage::transaction::SessionTransaction::open_in(ctx);
                    for name in &s.names {
                        let index = qualify(name)?;
                        let table = super::index::owner_of(
                            engine,
                            session.as_deref(),
                            &index.schema,
                            &index.name,
                        )
                        .await;
                        if let Some((table, _)) = table
                            && privileges.check_relation_owner(&who, &table).is_err()
                        {
                            return Err(not_owner("index", &index.name));
                        }
                    }
                    Ok(())
                }
                _ => Ok(()),
            },
            Statement::Truncate(s) => {
                s.0.table_names
                    .iter()
                    .try_for_each(|t| relation(&t.name, Privilege::Truncate))
            }
            Statement::AlterTable(s) => owner(&s.0.name),
            Statement::Policy(s) => owner(s.table_name()),
            Statement::AlterView(s) => owner(&s.name),
            Statement::CreateIndex(s) => owner(&s.0.table_name),
            Statement::AlterSchema(s) => {
                privileges.check_schema_owner(&who, &schema_name(&s.0.name)?)
            }
            Statement::Comment(s) => match s.relation_name() {
                Some(name) => owner(&name),
                None => privileges.check_schema_owner(&who, &schema_name(&s.object_name)?),
            },
            Statement::LockTable(s) => s.0.tables.iter().try_for_each(|t| {
                // Any privilege that writes, or SELECT, lets a role lock.
                let name = qualify(&t.name)?;
                let any = [
                    Privilege::Select,
                    Privilege::Insert,
                    Privilege::Update,
                    Privilege::Delete,
                    Privilege::Truncate,
                ]
                .iter()
                .any(|p| privileges.check_relation(&who, &name, *p).is_ok());
                if any {
                    Ok(())
                } else {
                    privileges.check_relation(&who, &name, Privilege::Select)
                }
            }),
            Statement::Merge(s) => {
                if let Some(target) = table_factor_name(&s.0.table) {
                    refuse_row_security(privileges, &who, &qualify(target)?, "MERGE")?;
                    relation(target, Privilege::Select)?;
                    for clause in &s.0.clauses {
                        let needed = match clause.action {
                            ast::MergeAction::Insert(_) => Privilege::Insert,
                            ast::MergeAction::Update(_) => Privilege::Update,
                            ast::MergeAction::Delete { .. } => Privilege::Delete,
                        };
                        relation(target, needed)?;
                    }
                }
                if let Some(source) = table_factor_name(&s.0.source) {
                    relation(source, Privilege::Select)?;
                }
                Ok(())
            }
            Statement::CopyFrom(s) => match &s.source {
                ast::CopySource::Table { table_name, .. } => {
                    refuse_row_security(privileges, &who, &qualify(table_name)?, "COPY FROM")?;
                    relation(table_name, Privilege::Insert)
                }
                ast::CopySource::Query(_) => Ok(()),
            },
            Statement::CopyTo(s) => match &s.source {
                ast::CopySource::Table { table_name, .. } => {
                    relation(table_name, Privilege::Select)
                }
                ast::CopySource::Query(query) => {
                    check_query(privileges, &who, ctx, &query.to_string()).await
                }
            },
            Statement::CreateModel(s) => {
                let name = crate::ml::registry::normalize(&s.name);
                if engine.models.registry.exists(&name) {
                    // Replacing one needs its ownership; IF NOT EXISTS
                    // leaves it be.
                    if s.or_replace {
                        privileges.check_model_owner(&who, &name)?;
                    }
                } else {
                    privileges.check_create_model(&who)?;
                }
                check_query(privileges, &who, ctx, &s.query).await
            }
            Statement::RefreshModel(s) => {
                privileges.check_model_owner(&who, &crate::ml::registry::normalize(&s.name))
            }
            Statement::DropModel(s) => {
                privileges.check_model_owner(&who, &crate::ml::registry::normalize(&s.name))
            }
            // Checked by the statements themselves (they need the roles).
            Statement::CreateRole(_)
            | Statement::AlterRole(_)
            | Statement::DropRole(_)
            | Statement::GrantRole(_)
            | Statement::GrantOnModel(_)
            | Statement::AlterDefaultPrivileges(_)
            | Statement::Grant(_)
            | Statement::Revoke(_) => Ok(()),
            Statement::CreatePipeline(s) => {
                let table = QualifiedName {
                    schema: s.def.table_schema.clone(),
                    name: s.def.table_name.clone(),
                };
                pipeline_writes(privileges, &who, &table, s.def.duplicates)?;
                if s.or_replace {
                    pipeline_owner(engine, &who, &s.def.name).await?;
                }
                Ok(())
            }
            Statement::StartPipeline(s) => {
                pipeline_owner(engine, &who, &s.name).await?;
                // It writes with its owner's rights, which may have changed.
                if let Some((owner, schema, name)) = engine.pipelines.owner_of(&s.name).await {
                    let owner = privileges.identity(&engine.roles.name_of(owner));
                    let table = QualifiedName { schema, name };
                    privileges.check_relation(&owner, &table, Privilege::Insert)?;
                }
                Ok(())
            }
            Statement::StopPipeline(s) => pipeline_owner(engine, &who, &s.name).await,
            Statement::SetPipelineOffsets(s) => pipeline_owner(engine, &who, &s.name).await,
            Statement::RetryPipelineErrors(s) => pipeline_owner(engine, &who, &s.name).await,
            Statement::DropPipeline(s) => pipeline_owner(engine, &who, &s.name).await,
            Statement::TestPipeline(s) => pipeline_owner(engine, &who, &s.name).await,
            Statement::AlterSequence(s) => sequence_owner(engine, privileges, &who, &s.name),
            Statement::ShowPipelines(_) | Statement::ShowModels(_) => Ok(()),
        }
    }
}

/// Check that `who` owns sequence `name`: made it, or owns the table whose
/// column owns it.
fn sequence_owner(
    engine: &Engine,
    privileges: &Privileges,
    who: &Identity,
    name: &ast::ObjectName,
) -> Result<()> {
    let name = qualify(name)?;
    let Some((owner, table)) = engine.sequences.owner_of(&name) else {
        return Ok(());
    };
    // Its maker, or the owner of the table whose column owns it (which an
    // ALTER TABLE … OWNER TO may have changed).
    let owns = who.oids.contains(&owner)
        || table.is_some_and(|table| privileges.owns_relation(who, &table));
    if owns {
        Ok(())
    } else {
        Err(not_owner("sequence", &name.name))
    }
}

/// Check that `who` owns pipeline `name` (or is a member of its owner).
async fn pipeline_owner(engine: &Engine, who: &Identity, name: &str) -> Result<()> {
    match engine.pipelines.owner_of(name).await {
        Some((owner, ..)) if !who.oids.contains(&owner) => Err(not_owner("pipeline", name)),
        _ => Ok(()),
    }
}

/// What a pipeline needs on its table: INSERT; REPLACE also reads,
/// updates and deletes the rows it replaces, IGNORE reads their keys.
fn pipeline_writes(
    privileges: &Privileges,
    who: &Identity,
    table: &QualifiedName,
    duplicates: DuplicateMode,
) -> Result<()> {
    let needed: &[Privilege] = match duplicates {
        DuplicateMode::Append => &[Privilege::Insert],
        DuplicateMode::Ignore => &[Privilege::Insert, Privilege::Select],
        DuplicateMode::Replace => &[
            Privilege::Insert,
            Privilege::Select,
            Privilege::Update,
            Privilege::Delete,
        ],
    };
    needed
        .iter()
        .try_for_each(|p| privileges.check_relation(who, table, *p))
}

/// Plan `sql` in the session and check what it reads.
async fn check_query(
    privileges: &Privileges,
    who: &Identity,
    ctx: &SessionContext,
    sql: &str,
) -> Result<()> {
    let state = ctx.state();
    let plan = state.create_logical_plan(sql).await?;
    let default_schema = state.config_options().catalog.default_schema.clone();
    check_plan(privileges, who, &default_schema, &plan)
}
