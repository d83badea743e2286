//! Row-level security: `ALTER TABLE t ENABLE ROW LEVEL SECURITY` and
//! `CREATE POLICY p ON t … USING (…) WITH CHECK (…)`, as PostgreSQL has
//! them. A table's policies are kept in its catalog entry (so that they go
//! with a drop and take part in a transaction); the catalog compiles them
//! here against the table's columns when it publishes its privileges, and
//! the analyzer rule ([`row_filter`](super::row_filter)) puts them into
//! every plan that reads or writes the table.
//!
//! Which rows a role may see or change, as PostgreSQL decides it: the
//! policies that name the command (or ALL) and one of the role's roles
//! (or PUBLIC); the permissive ones OR-ed, the restrictive ones AND-ed on
//! top; no permissive policy at all means no row. Superusers bypass the
//! policies; so does the table's owner unless `FORCE ROW LEVEL SECURITY`.
//! A policy that no longer compiles (it cannot, after the checks of
//! `ALTER TABLE`, but a catalog written by hand could) hides every row
//! rather than none.

use datafusion::logical_expr::{Expr, lit};
use datafusion::sql::sqlparser::ast;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tracing::warn;

use super::Identity;
use crate::error::{BrookError, ErrorCode, SqlState};

/// A table's row-level security, as its catalog entry keeps it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RowSecurity {
    /// `ENABLE ROW LEVEL SECURITY`: without it the policies are kept but
    /// not applied.
    #[serde(default)]
    pub enabled: bool,
    /// `FORCE ROW LEVEL SECURITY`: the owner is held to the policies too.
    #[serde(default)]
    pub forced: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<Policy>,
}

impl RowSecurity {
    pub fn is_default(&self) -> bool {
        *self == RowSecurity::default()
    }

    pub fn policy(&self, name: &str) -> Option<&Policy> {
        self.policies.iter().find(|p| p.name == name)
    }
}

/// One `CREATE POLICY`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub name: String,
    /// PERMISSIVE (the default) or RESTRICTIVE.
    pub permissive: bool,
    pub command: Command,
    /// The roles it applies to, by OID; [`super::PUBLIC`] for everyone.
    pub roles: Vec<i32>,
    /// `USING (…)`: which existing rows the role may see or change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub using: Option<String>,
    /// `WITH CHECK (…)`: which new rows the role may write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with_check: Option<String>,
}

/// The command a policy is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Command {
    All,
    Select,
    Insert,
    Update,
    Delete,
}

impl Command {
    /// As `pg_policies.cmd` shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Command::All => "ALL",
            Command::Select => "SELECT",
            Command::Insert => "INSERT",
            Command::Update => "UPDATE",
            Command::Delete => "DELETE",
        }
    }

    /// `pg_policy.polcmd`.
    pub fn letter(self) -> &'static str {
        match self {
            Command::All => "*",
            Command::Select => "r",
            Command::Insert => "a",
            Command::Update => "w",
            Command::Delete => "d",
        }
    }

    fn covers(self, command: Command) -> bool {
        self == Command::All || self == command
    }
}

impl From<ast::CreatePolicyCommand> for Command {
    fn from(c: ast::CreatePolicyCommand) -> Self {
        match c {
            ast::CreatePolicyCommand::All => Command::All,
            ast::CreatePolicyCommand::Select => Command::Select,
            ast::CreatePolicyCommand::Insert => Command::Insert,
            ast::CreatePolicyCommand::Update => Command::Update,
            ast::CreatePolicyCommand::Delete => Command::Delete,
        }
    }
}

/// What a policy statement or a policed write can get wrong.
#[derive(Debug, Error)]
pub enum RowSecurityError {
    #[error("argument of POLICY must be type boolean, not type {0}")]
    NotBoolean(String),
    #[error("only WITH CHECK expression allowed for INSERT")]
    UsingOnInsert,
    #[error("WITH CHECK cannot be applied to SELECT or DELETE")]
    CheckOnSelectOrDelete,
    #[error("policy \"{policy}\" for table \"{table}\" already exists")]
    Duplicate { policy: String, table: String },
    #[error("policy \"{policy}\" for table \"{table}\" does not exist")]
    Undefined { policy: String, table: String },
    #[error("new row violates row-level security policy for table \"{0}\"")]
    Violation(String),
    #[error("{0} is not supported")]
    Unsupported(String),
}

impl ErrorCode for RowSecurityError {
    fn sqlstate(&self) -> SqlState {
        match self {
            RowSecurityError::NotBoolean(_) => SqlState::DATATYPE_MISMATCH,
            RowSecurityError::UsingOnInsert | RowSecurityError::CheckOnSelectOrDelete => {
                SqlState::SYNTAX_ERROR
            }
            RowSecurityError::Duplicate { .. } => SqlState::DUPLICATE_OBJECT,
            RowSecurityError::Undefined { .. } => SqlState::UNDEFINED_OBJECT,
            RowSecurityError::Violation(_) => SqlState::INSUFFICIENT_PRIVILEGE,
            RowSecurityError::Unsupported(_) => SqlState::FEATURE_NOT_SUPPORTED,
        }
    }
}

impl From<RowSecurityError> for BrookError {
    fn from(e: RowSecurityError) -> Self {
        BrookError::Module(Box::new(e))
    }
}

/// A table's policies compiled, as the checks apply them.
#[derive(Debug, Clone, Default)]
pub struct TablePolicies {
    pub enabled: bool,
    pub forced: bool,
    /// As declared (what `pg_policies` shows).
    pub declared: Vec<Policy>,
    policies: Vec<Compiled>,
}

#[derive(Debug, Clone)]
struct Compiled {
    permissive: bool,
    command: Command,
    roles: Vec<i32>,
    /// `Err(())`: the expression did not compile; it admits no row.
    using: Option<Result<Expr, ()>>,
    with_check: Option<Result<Expr, ()>>,
}

impl TablePolicies {
    /// `security` with each expression compiled by `compile` (the
    /// catalog's, which knows the table's columns and PostgreSQL's
    /// spellings); `table` names it in the warning a broken policy logs.
    pub fn compile(
        table: &str,
        security: &RowSecurity,
        compile: impl Fn(&str) -> crate::error::Result<Expr>,
    ) -> Self {
        let one = |policy: &str, sql: &Option<String>| {
            sql.as_ref().map(|sql| {
                compile(sql).map_err(|e| {
                    warn!(table, policy, error = %e, "policy does not compile: it admits no row");
                })
            })
        };
        TablePolicies {
            enabled: security.enabled,
            forced: security.forced,
            declared: security.policies.clone(),
            policies: security
                .policies
                .iter()
                .map(|p| Compiled {
                    permissive: p.permissive,
                    command: p.command,
                    roles: p.roles.clone(),
                    using: one(&p.name, &p.using),
                    with_check: one(&p.name, &p.with_check),
                })
                .collect(),
        }
    }

    /// Which existing rows `who` may read (`Select`) or change (`Update`,
    /// `Delete`) under the policies for `command`.
    pub fn using(&self, who: &Identity, command: Command) -> Expr {
        self.combine(who, command, |p| p.using.as_ref())
    }

    /// Which new rows `who` may write with `command` (`Insert`,
    /// `Update`): each policy's WITH CHECK, or its USING when it has none.
    pub fn check(&self, who: &Identity, command: Command) -> Expr {
        self.combine(who, command, |p| p.with_check.as_ref().or(p.using.as_ref()))
    }

    fn combine(
        &self,
        who: &Identity,
        command: Command,
        clause: impl Fn(&Compiled) -> Option<&Result<Expr, ()>>,
    ) -> Expr {
        let applies = |p: &&Compiled| {
            p.command.covers(command) && p.roles.iter().any(|r| who.oids.contains(r))
        };
        let expr_of = |p: &Compiled| match clause(p) {
            Some(Ok(e)) => Some(e.clone()),
            Some(Err(())) => Some(lit(false)),
            None => None,
        };
        // A permissive policy without the clause admits nothing.
        let permissive = self
            .policies
            .iter()
            .filter(applies)
            .filter(|p| p.permissive)
            .filter_map(expr_of)
            .reduce(Expr::or)
            .unwrap_or_else(|| lit(false));
        self.policies
            .iter()
            .filter(applies)
            .filter(|p| !p.permissive)
            .filter_map(expr_of)
            .fold(permissive, Expr::and)
    }
}
