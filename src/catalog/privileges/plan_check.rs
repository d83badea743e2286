//! The privilege check of every query a session plans: an analyzer rule,
//! first of all, so that whatever reaches execution (a SELECT, an INSERT,
//! UPDATE or DELETE, a prepared statement, the query of a CREATE TABLE AS
//! or a COPY) has been checked in one place, against the plan DataFusion
//! will run rather than against the SQL text.
//!
//! What it requires, as PostgreSQL does: SELECT on every table or view
//! read; INSERT, UPDATE or DELETE on a statement's target, and SELECT on
//! it too when the statement reads its columns (a WHERE, or a SET that
//! uses them). A view's own query is checked against the view's owner
//! ([`view_boundary`](super::view_boundary)). Superusers, and contexts
//! that are no session's (pipelines, model training), are not checked.

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::common::{Result, ScalarValue, TableReference};
use datafusion::logical_expr::{DmlStatement, Expr, LogicalPlan, WriteOp};
use datafusion::optimizer::AnalyzerRule;

use super::view_boundary::as_boundary;
use super::{Identity, Privilege, Privileges};
use crate::catalog::names::QualifiedName;
use crate::catalog::settings;
use crate::error::external;

/// The analyzer rule.
#[derive(Debug)]
pub struct PrivilegeCheck {
    privileges: Privileges,
}

impl PrivilegeCheck {
    pub fn new(privileges: Privileges) -> Self {
        Self { privileges }
    }
}

impl AnalyzerRule for PrivilegeCheck {
    fn name(&self) -> &str {
        "brook_privilege_check"
    }

    fn analyze(&self, plan: LogicalPlan, config: &ConfigOptions) -> Result<LogicalPlan> {
        let mut plan = plan;
        let mut who = None;
        if settings::of(config).is_some() {
            let role = self.privileges.identity(&settings::session_role(config));
            if !role.superuser {
                let default_schema = config.catalog.default_schema.clone();
                Checker {
                    privileges: &self.privileges,
                    default_schema: &default_schema,
                }
                .check(&plan, &role)?;
                plan =
                    own_set_aside_messages_only(plan, &self.privileges.visible_pipelines(&role))?;
            }
            who = Some(role);
        }
        // Row-level security, which also takes the views' boundaries out.
        super::row_filter::secure(&self.privileges, config, plan, who.as_ref())
    }
}

/// Check `plan` as `who` would run it: the rule's check, for a plan that
/// will run somewhere else than the session (a model's training query).
pub fn check_plan(
    privileges: &Privileges,
    who: &Identity,
    default_schema: &str,
    plan: &LogicalPlan,
) -> crate::error::Result<()> {
    if who.superuser {
        return Ok(());
    }
    Checker {
        privileges,
        default_schema,
    }
    .check(plan, who)
    .map_err(crate::error::BrookError::from)
}

struct Checker<'a> {
    privileges: &'a Privileges,
    default_schema: &'a str,
}

impl Checker<'_> {
    fn name(&self, reference: &TableReference) -> Option<QualifiedName> {
        qualified(reference, self.default_schema)
    }

    fn require(
        &self,
        who: &Identity,
        reference: &TableReference,
        privilege: Privilege,
    ) -> Result<()> {
        match self.name(reference) {
            Some(name) => self
                .privileges
                .check_relation(who, &name, privilege)
                .map_err(external),
            None => Ok(()),
        }
    }

    fn check(&self, plan: &LogicalPlan, who: &Identity) -> Result<()> {
        if who.superuser {
            return Ok(());
        }
        plan.apply_with_subqueries(|node| {
            if let Some(boundary) = as_boundary(node) {
                let view = boundary.view();
                self.privileges
                    .check_relation(who, &view, Privilege::Select)
                    .map_err(external)?;
                let owner = self.privileges.owner_identity(&view);
                if let Some(owner) = owner {
                    self.check(&boundary.input, &owner)?;
                }
                return Ok(TreeNodeRecursion::Jump);
            }
            for expr in node.expressions() {
                self.check_models(&expr, who)?;
            }
            match node {
                LogicalPlan::TableScan(scan) => {
                    self.require(who, &scan.table_name, Privilege::Select)?;
                }
                LogicalPlan::Dml(dml) => {
                    self.check_dml(dml, who)?;
                    return Ok(TreeNodeRecursion::Jump);
                }
                _ => {}
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        Ok(())
    }

    /// USAGE on the models PREDICT and PREDICT_PROBA name in `expr`.
    fn check_models(&self, expr: &Expr, who: &Identity) -> Result<()> {
        expr.apply(|e| {
            if let Expr::ScalarFunction(call) = e
                && MODEL_FUNCTIONS.contains(&call.func.name())
                && let Some(Expr::Literal(ScalarValue::Utf8(Some(reference)), _)) =
                    call.args.first()
            {
                let name = reference
                    .rsplit_once('@')
                    .map_or(reference.as_str(), |(name, _)| name)
                    .trim()
                    .to_lowercase();
                self.privileges.check_model(who, &name).map_err(external)?;
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        Ok(())
    }

    /// A write: its privilege on the target, SELECT on the target when it
    /// reads the target's columns, and whatever its input reads.
    fn check_dml(&self, dml: &DmlStatement, who: &Identity) -> Result<()> {
        let (privilege, reads_target) = match &dml.op {
            WriteOp::Insert(_) | WriteOp::Ctas => (Privilege::Insert, true),
            WriteOp::Delete => (Privilege::Delete, reads_columns(&dml.input, false)),
            WriteOp::Update => (Privilege::Update, reads_columns(&dml.input, true)),
            WriteOp::Truncate => (Privilege::Truncate, false),
            // MERGE is Brook's own statement (sql::merge), checked there.
            _ => (Privilege::Update, true),
        };
        self.require(who, &dml.table_name, privilege)?;
        if reads_target {
            return self.check(&dml.input, who);
        }
        // The target's own scan needs nothing more; anything else read does.
        let target = self.name(&dml.table_name);
        dml.input.apply_with_subqueries(|node| match node {
            LogicalPlan::TableScan(scan) if self.name(&scan.table_name) == target => {
                Ok(TreeNodeRecursion::Continue)
            }
            LogicalPlan::TableScan(_) | LogicalPlan::Extension(_) | LogicalPlan::Dml(_) => {
                self.check(node, who)?;
                Ok(TreeNodeRecursion::Jump)
            }
            _ => Ok(TreeNodeRecursion::Continue),
        })?;
        Ok(())
    }
}

/// The catalog's name of the relation `reference` names (bare names in
/// `default_schema`); `None` for another database's.
pub fn qualified(reference: &TableReference, default_schema: &str) -> Option<QualifiedName> {
    match reference {
        TableReference::Bare { table } => Some(QualifiedName {
            schema: default_schema.to_string(),
            name: table.to_string(),
        }),
        TableReference::Partial { schema, table } => Some(QualifiedName {
            schema: schema.to_string(),
            name: table.to_string(),
        }),
        TableReference::Full {
            catalog,
            schema,
            table,
        } => (catalog.as_ref() == crate::catalog::DATABASE).then(|| QualifiedName {
            schema: schema.to_string(),
            name: table.to_string(),
        }),
    }
}

/// The functions that run a model named by their first argument.
const MODEL_FUNCTIONS: &[&str] = &["predict", "predict_proba", "model_version"];

/// Whether an UPDATE's or DELETE's input reads the target's values: a
/// WHERE (a filter), or, for an UPDATE, a SET expression that is neither a
/// constant nor the column's own value passed on.
pub(super) fn reads_columns(input: &LogicalPlan, update: bool) -> bool {
    let mut reads = false;
    let _ = input.apply(|node| {
        match node {
            LogicalPlan::Filter(_) | LogicalPlan::Join(_) | LogicalPlan::Subquery(_) => {
                reads = true;
            }
            LogicalPlan::Projection(projection) if update => {
                for (expr, field) in projection.expr.iter().zip(projection.schema.fields()) {
                    let bare = strip_alias(expr);
                    let passed_on = matches!(bare, Expr::Column(c) if &c.name == field.name());
                    if !passed_on && !bare.column_refs().is_empty() {
                        reads = true;
                    }
                }
            }
            _ => {}
        }
        Ok(if reads {
            TreeNodeRecursion::Stop
        } else {
            TreeNodeRecursion::Continue
        })
    });
    reads
}

pub(super) fn strip_alias(expr: &Expr) -> &Expr {
    match expr {
        Expr::Alias(alias) => strip_alias(&alias.expr),
        other => other,
    }
}

/// `plan` reading only the rows of `information_schema.pipelines_errors`
/// that belong to `pipelines`: a role sees the raw messages its own
/// pipelines set aside, not another team's.
fn own_set_aside_messages_only(plan: LogicalPlan, pipelines: &[String]) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| {
        let LogicalPlan::TableScan(scan) = &node else {
            return Ok(Transformed::no(node));
        };
        let is_errors = scan.table_name.table() == ERRORS_TABLE
            && scan.table_name.schema() == Some(crate::catalog::information_schema::SCHEMA);
        if !is_errors {
            return Ok(Transformed::no(node));
        }
        let column = Expr::Column(datafusion::common::Column::new(
            Some(scan.table_name.clone()),
            "pipeline_name",
        ));
        let visible = if pipelines.is_empty() {
            datafusion::logical_expr::lit(false)
        } else {
            column.in_list(
                pipelines
                    .iter()
                    .map(|p| datafusion::logical_expr::lit(p.clone()))
                    .collect(),
                false,
            )
        };
        let filtered = datafusion::logical_expr::LogicalPlanBuilder::from(node)
            .filter(visible)?
            .build()?;
        Ok(Transformed::yes(filtered))
    })
    .data()
}

/// The durable table of the messages pipelines set aside.
const ERRORS_TABLE: &str = "pipelines_errors";
