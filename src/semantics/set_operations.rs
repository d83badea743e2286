//! `INTERSECT ALL` and `EXCEPT ALL` with PostgreSQL's multiplicities.
//!
//! DataFusion plans both as a semi (anti) join of the left rows against the
//! right ones, so `INTERSECT ALL` keeps every left copy of a row that the
//! right side has once (PostgreSQL: the smaller of the two counts), and
//! `EXCEPT ALL` drops every left copy of a row the right side has (PostgreSQL:
//! the left count minus the right one). Numbering the copies of each row on
//! both sides (`row_number() OVER (PARTITION BY every column)`) and joining
//! on the number too gives exactly those counts: the k-th copy on the left
//! meets a partner iff the right side has at least k copies.
//!
//! The plans are recognised by their shape: a semi or anti join whose keys
//! compare NULLs as equal is only built for INTERSECT and EXCEPT, and the
//! DISTINCT forms put a `Distinct` on the left input.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{Column, NullEquality, Result};
use datafusion::functions_window::expr_fn::row_number;
use datafusion::logical_expr::{
    Expr, ExprFunctionExt, Join, JoinType, LogicalPlan, LogicalPlanBuilder,
};
use datafusion::optimizer::AnalyzerRule;

/// The analyzer rule; runs before type coercion (the windows it adds are
/// coerced with the rest of the plan).
#[derive(Debug, Default)]
pub struct SetOperationsAll;

impl AnalyzerRule for SetOperationsAll {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|plan| match plan {
            LogicalPlan::Join(join) if is_set_operation_all(&join) => {
                numbered_join(join).map(Transformed::yes)
            }
            other => Ok(Transformed::no(other)),
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "brook_set_operations_all"
    }
}

fn is_set_operation_all(join: &Join) -> bool {
    matches!(join.join_type, JoinType::LeftSemi | JoinType::LeftAnti)
        && join.null_equality == NullEquality::NullEqualsNull
        && !join.null_aware
        && join.filter.is_none()
        && !matches!(join.left.as_ref(), LogicalPlan::Distinct(_))
}

const LEFT_COPY: &str = "__brook_left_copy";
const RIGHT_COPY: &str = "__brook_right_copy";

/// `plan` with a column `name` counting the copies of each of its rows.
fn with_copy_numbers(plan: Arc<LogicalPlan>, name: &str) -> Result<LogicalPlan> {
    let columns: Vec<Expr> = plan
        .schema()
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    let number = row_number().partition_by(columns).build()?.alias(name);
    LogicalPlanBuilder::from(plan).window(vec![number])?.build()
}

fn numbered_join(join: Join) -> Result<LogicalPlan> {
    let output: Vec<Expr> = join
        .left
        .schema()
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    let left = with_copy_numbers(join.left, LEFT_COPY)?;
    let right = with_copy_numbers(join.right, RIGHT_COPY)?;
    let mut on = join.on;
    on.push((
        Expr::Column(Column::from_name(LEFT_COPY)),
        Expr::Column(Column::from_name(RIGHT_COPY)),
    ));
    let joined = Join::try_new(
        Arc::new(left),
        Arc::new(right),
        on,
        None,
        join.join_type,
        join.join_constraint,
        NullEquality::NullEqualsNull,
        false,
    )?;
    LogicalPlanBuilder::from(LogicalPlan::Join(joined))
        .project(output)?
        .build()
}
