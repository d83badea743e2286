//! `CREATE POLICY`, `ALTER POLICY`, `DROP POLICY` and `ALTER TABLE …
//! ENABLE | DISABLE | [NO] FORCE ROW LEVEL SECURITY`: row-level security
//! as PostgreSQL declares it. The statements check their expressions
//! against the table's columns and stage the table's new row-level
//! security in the catalog (catalog::policies), in the session's
//! transaction; the checks apply it (catalog::privileges::row_security).

use datafusion::common::DFSchema;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast;

use super::alter_table::in_transaction;
use super::authorize::identity;
use super::outcome::{Notices, Outcome};
use crate::catalog::names::{QualifiedName, normalize, qualify};
use crate::catalog::privileges::row_security::{Command, Policy, RowSecurity, RowSecurityError};
use crate::catalog::privileges::{Identity, PUBLIC};
use crate::engine::Engine;
use crate::error::Result;
use crate::storage::transaction::SessionTransaction;

/// A policy statement as sqlparser parsed it.
#[derive(Debug, Clone, PartialEq)]
pub enum PolicyStatement {
    Create(ast::CreatePolicy),
    Alter(ast::AlterPolicy),
    Drop(ast::DropPolicy),
}

impl PolicyStatement {
    /// The table the policy is on.
    pub fn table_name(&self) -> &ast::ObjectName {
        match self {
            PolicyStatement::Create(s) => &s.table_name,
            PolicyStatement::Alter(s) => &s.table_name,
            PolicyStatement::Drop(s) => &s.table_name,
        }
    }

    pub fn table_name_mut(&mut self) -> &mut ast::ObjectName {
        match self {
            PolicyStatement::Create(s) => &mut s.table_name,
            PolicyStatement::Alter(s) => &mut s.table_name,
            PolicyStatement::Drop(s) => &mut s.table_name,
        }
    }

    pub async fn execute(
        self,
        engine: &Engine,
        ctx: &SessionContext,
        session: Option<&SessionTransaction>,
        notices: &Notices,
    ) -> Result<Outcome> {
        let table = qualify(self.table_name())?;
        let mut security = engine.catalog.row_security_for(session, &table).await?;
        let who = identity(engine, ctx);
        let tag = match self {
            PolicyStatement::Create(create) => {
                let policy = created(engine, &who, &create)?;
                if security.policy(&policy.name).is_some() {
                    return Err(RowSecurityError::Duplicate {
                        policy: policy.name,
                        table: table.name,
                    }
                    .into());
                }
                security.policies.push(policy);
                "CREATE POLICY"
            }
            PolicyStatement::Alter(alter) => {
                let name = normalize(&alter.name);
                let undefined = || RowSecurityError::Undefined {
                    policy: name.clone(),
                    table: table.name.clone(),
                };
                match &alter.operation {
                    ast::AlterPolicyOperation::Rename { new_name } => {
                        let new_name = normalize(new_name);
                        if security.policy(&new_name).is_some() {
                            return Err(RowSecurityError::Duplicate {
                                policy: new_name,
                                table: table.name,
                            }
                            .into());
                        }
                        let policy = policy_mut(&mut security, &name).ok_or_else(undefined)?;
                        policy.name = new_name;
                    }
                    ast::AlterPolicyOperation::Apply {
                        to,
                        using,
                        with_check,
                    } => {
                        let roles = match to {
                            Some(to) => Some(role_oids(engine, &who, to)?),
                            None => None,
                        };
                        let policy = policy_mut(&mut security, &name).ok_or_else(undefined)?;
                        if let Some(roles) = roles {
                            policy.roles = roles;
                        }
                        if let Some(using) = using {
                            policy.using = Some(using.to_string());
                        }
                        if let Some(check) = with_check {
                            policy.with_check = Some(check.to_string());
                        }
                        clauses_fit(policy.command, &policy.using, &policy.with_check)?;
                    }
                }
                "ALTER POLICY"
            }
            PolicyStatement::Drop(drop) => {
                let name = normalize(&drop.name);
                if security.policy(&name).is_none() {
                    if drop.if_exists {
                        notices.send(format!(
                            "policy \"{name}\" for relation \"{}\" does not exist, skipping",
                            table.name
                        ));
                        return Ok(Outcome::done("DROP POLICY"));
                    }
                    return Err(RowSecurityError::Undefined {
                        policy: name,
                        table: table.name,
                    }
                    .into());
                }
                security.policies.retain(|p| p.name != name);
                "DROP POLICY"
            }
        };
        check_compiles(ctx, &table, &security).await?;
        in_transaction(engine, ctx, session, |slot| async move {
            engine
                .catalog
                .stage_row_security(&slot, table, security)
                .await
        })
        .await?;
        Ok(Outcome::done(tag))
    }
}

fn policy_mut<'a>(security: &'a mut RowSecurity, name: &str) -> Option<&'a mut Policy> {
    security.policies.iter_mut().find(|p| p.name == name)
}

/// The policy `CREATE POLICY` declares.
fn created(engine: &Engine, who: &Identity, create: &ast::CreatePolicy) -> Result<Policy> {
    let command = create.command.map_or(Command::All, Command::from);
    let using = create.using.as_ref().map(|e| e.to_string());
    let with_check = create.with_check.as_ref().map(|e| e.to_string());
    clauses_fit(command, &using, &with_check)?;
    let roles = match &create.to {
        Some(to) => role_oids(engine, who, to)?,
        None => vec![PUBLIC],
    };
    Ok(Policy {
        name: normalize(&create.name),
        permissive: !matches!(create.policy_type, Some(ast::CreatePolicyType::Restrictive)),
        command,
        roles,
        using,
        with_check,
    })
}

/// PostgreSQL's rules on which clause a command's policy may have.
fn clauses_fit(command: Command, using: &Option<String>, check: &Option<String>) -> Result<()> {
    match command {
        Command::Insert if using.is_some() => Err(RowSecurityError::UsingOnInsert.into()),
        Command::Select | Command::Delete if check.is_some() => {
            Err(RowSecurityError::CheckOnSelectOrDelete.into())
        }
        _ => Ok(()),
    }
}

/// The OIDs of the roles a policy's `TO` names.
fn role_oids(engine: &Engine, who: &Identity, to: &[ast::Owner]) -> Result<Vec<i32>> {
    to.iter()
        .map(|owner| match owner {
            ast::Owner::Ident(ident) => super::grant::role_oid(engine, who, ident),
            ast::Owner::CurrentRole | ast::Owner::CurrentUser | ast::Owner::SessionUser => {
                super::grant::role_oid(engine, who, &ast::Ident::new("current_user"))
            }
        })
        .collect()
}

/// Every policy expression of `security` planned over `table`'s columns:
/// an unknown column, a non-boolean or a subquery is refused here rather
/// than hiding every row later.
async fn check_compiles(
    ctx: &SessionContext,
    table: &QualifiedName,
    security: &RowSecurity,
) -> Result<()> {
    let provider = ctx
        .table_provider(datafusion::common::TableReference::partial(
            table.schema.as_str(),
            table.name.as_str(),
        ))
        .await?;
    let columns = DFSchema::try_from(provider.schema().as_ref().clone())?;
    let state = ctx.state();
    for policy in &security.policies {
        for sql in policy.using.iter().chain(policy.with_check.iter()) {
            crate::catalog::policies::compile(&state, &columns, sql)?;
        }
    }
    Ok(())
}

/// `ALTER TABLE … ENABLE | DISABLE | [NO] FORCE ROW LEVEL SECURITY`, made
/// after the statement's other operations.
pub async fn set_row_security(
    engine: &Engine,
    ctx: &SessionContext,
    session: Option<&SessionTransaction>,
    table: QualifiedName,
    operations: &[ast::AlterTableOperation],
) -> Result<()> {
    let mut security = engine.catalog.row_security_for(session, &table).await?;
    let before = security.clone();
    for op in operations {
        match op {
            ast::AlterTableOperation::EnableRowLevelSecurity => security.enabled = true,
            ast::AlterTableOperation::DisableRowLevelSecurity => security.enabled = false,
            ast::AlterTableOperation::ForceRowLevelSecurity => security.forced = true,
            ast::AlterTableOperation::NoForceRowLevelSecurity => security.forced = false,
            _ => {}
        }
    }
    if security == before {
        return Ok(());
    }
    in_transaction(engine, ctx, session, |slot| async move {
        engine
            .catalog
            .stage_row_security(&slot, table, security)
            .await
    })
    .await
}

/// Whether `op` is one [`set_row_security`] makes.
pub fn is_row_security(op: &ast::AlterTableOperation) -> bool {
    matches!(
        op,
        ast::AlterTableOperation::EnableRowLevelSecurity
            | ast::AlterTableOperation::DisableRowLevelSecurity
            | ast::AlterTableOperation::ForceRowLevelSecurity
            | ast::AlterTableOperation::NoForceRowLevelSecurity
    )
}
