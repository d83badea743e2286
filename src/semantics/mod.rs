//! PostgreSQL's semantics where DataFusion's differ, as analyzer rules that
//! rewrite every plan (queries, DML, views, model and pipeline SELECTs alike,
//! since all of them are planned by the same session state).
//!
//! DataFusion types every integer literal as `bigint`, wraps on integer
//! overflow and truncates when a float becomes an integer. PostgreSQL types a
//! literal that fits as `integer`, raises 22003 on overflow and rounds. Each
//! difference is a wrong answer, not a missing feature, so each is corrected
//! before a plan runs:
//!
//! - [`IntegerLiterals`] (before type coercion): an integer literal that fits
//!   32 bits and is an operand of arithmetic is `integer`, so that
//!   `2147483647::int + 1` is `integer + integer` as in PostgreSQL.
//! - [`NullifType`] (before type coercion): `NULLIF` of two integers has
//!   its first argument's type.
//! - [`AggregateTypes`] (before type coercion): `avg` of integers and `sum`
//!   of `bigint` are `numeric`.
//! - [`ArrayLiterals`] (before type coercion): a string constant in array
//!   syntax beside an array is that array (`polroles = '{0}'`).
//! - [`SetOperationsAll`] (before type coercion): `INTERSECT ALL` and
//!   `EXCEPT ALL` keep PostgreSQL's counts of duplicate rows.
//! - [`CheckedArithmetic`] (after type coercion): `+`, `-` and `*` over
//!   integers are checked and fail with 22003 (`integer out of range`), and a
//!   cast from a float to an integer rounds as PostgreSQL does.
//!
//! - [`ArithmeticTypes`] (while the SQL is planned): `real` arithmetic with
//!   another kind of number is `double precision`, and a `numeric`
//!   quotient keeps at least 20 places.
//!
//! - [`ByteaText`] (after type coercion): text read as `bytea` decodes
//!   PostgreSQL's hex and escape formats.
//!
//! - [`TimestampText`] (after type coercion): a `timestamp` cast to text
//!   reads `2024-01-01 12:00:00`, not Arrow's ISO `…T12:00:00`.
//!
//! - [`TimestampInput`] (after type coercion): text read as a timestamp
//!   or date may omit the seconds (`'2024-01-01 12:00'`).
//!
//! - [`CorrelatedSubqueries`] (after DataFusion's optimizer rules): a
//!   subquery still correlated runs once per outer row, as PostgreSQL's
//!   SubPlan does, instead of failing to plan.
//!
//! - [`dml_filters::NotInDml`] (in place of DataFusion's common
//!   subexpression elimination): an UPDATE or DELETE whose WHERE repeats
//!   an expression still hands its table plain predicates.
//!
//! The rules keep every expression's name (DataFusion's `NamePreserver`), so
//! a column called `a + 1` keeps its name and the plan's schema its shape.

mod aggregate_types;
mod arithmetic_types;
mod array_literals;
mod bytea_text;
mod checked_arithmetic;
mod correlated_subqueries;
mod dml_filters;
mod error;
mod integer_literals;
mod interval_arithmetic;
mod nullif_type;
mod set_operations;
mod timestamp_input;
mod timestamp_text;

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::LogicalPlan;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::planner::ExprPlanner;
use datafusion::optimizer::{AnalyzerRule, OptimizerRule};

pub use aggregate_types::AggregateTypes;
pub use arithmetic_types::ArithmeticTypes;
pub use array_literals::ArrayLiterals;
pub use bytea_text::ByteaText;
pub use checked_arithmetic::CheckedArithmetic;
pub use correlated_subqueries::{CorrelatedSubqueries, PerRowSubqueries};
pub use error::SemanticsError;
pub use integer_literals::IntegerLiterals;
pub use nullif_type::NullifType;
pub use set_operations::SetOperationsAll;
pub use timestamp_input::{TimestampInput, normalize as normalize_timestamp_text};
pub use timestamp_text::{TimestampText, zoned_text_of};

/// The columns a node's expressions can refer to.
fn input_schema(plan: &LogicalPlan) -> DFSchema {
    let mut schema = DFSchema::empty();
    for input in plan.inputs() {
        schema.merge(input.schema());
    }
    if let LogicalPlan::TableScan(scan) = plan {
        schema.merge(&scan.projected_schema);
    }
    schema
}

/// `plan` with `rewrite` applied bottom-up to every expression of every
/// node, subqueries included, each expression keeping its name (a column
/// called `a + 1` stays so) and each node's schema recomputed.
fn rewrite_expressions(
    plan: LogicalPlan,
    rewrite: impl Fn(Expr, &DFSchema) -> Result<Transformed<Expr>>,
) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|plan| {
        let names = NamePreserver::new(&plan);
        let schema = input_schema(&plan);
        plan.map_expressions(|expr| {
            let name = names.save(&expr);
            expr.transform_up(|e| rewrite(e, &schema))
                .map(|t| t.update_data(|e| name.restore(e)))
        })?
        .map_data(|plan| plan.recompute_schema())
    })
    .map(|t| t.data)
}

/// `state` with PostgreSQL's literal typing before DataFusion's type
/// coercion and checked arithmetic after it.
pub fn install(state: SessionState) -> SessionState {
    let mut rules: Vec<Arc<dyn AnalyzerRule + Send + Sync>> = vec![
        Arc::new(IntegerLiterals),
        // Before NullifType, which reads its arguments' types.
        Arc::new(AggregateTypes),
        Arc::new(NullifType),
        Arc::new(SetOperationsAll),
        Arc::new(ArrayLiterals),
    ];
    rules.extend(state.analyzer().rules.iter().cloned());
    rules.push(Arc::new(CheckedArithmetic));
    rules.push(Arc::new(TimestampText));
    rules.push(Arc::new(TimestampInput));
    rules.push(Arc::new(ByteaText));
    let runtime = state.runtime_env().clone();
    rules.push(Arc::new(PerRowSubqueries::new(runtime.clone())));
    let mut planners: Vec<Arc<dyn ExprPlanner>> = vec![Arc::new(ArithmeticTypes)];
    planners.extend(state.expr_planners().iter().cloned());
    let optimizers = state
        .optimizers()
        .iter()
        .map(|rule| -> Arc<dyn OptimizerRule + Send + Sync> {
            if rule.name() == dml_filters::COMMON_SUBEXPRESSIONS {
                Arc::new(dml_filters::NotInDml(rule.clone()))
            } else {
                rule.clone()
            }
        })
        .collect();
    SessionStateBuilder::new_from_existing(state)
        .with_analyzer_rules(rules)
        .with_expr_planners(planners)
        .with_optimizer_rules(optimizers)
        .with_optimizer_rule(Arc::new(CorrelatedSubqueries::new(runtime)))
        .build()
}
