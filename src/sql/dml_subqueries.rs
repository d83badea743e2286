//! Subqueries in `UPDATE` and `DELETE`, evaluated before the table sees them.
//!
//! DataFusion hands a table's `delete_from`/`update` only the predicates it
//! finds in `Filter` nodes over the target's scan. A subquery in `WHERE`
//! (`id IN (SELECT …)`, `EXISTS (…)`, `= (SELECT max(…) …)`) is first
//! decorrelated into a join, and its predicate never reaches the table:
//! DataFusion 55 then changes **every row** (see docs/compatibility.md).
//!
//! So Brook evaluates each uncorrelated subquery of a DML statement first and
//! puts its answer in its place as constants — `IN (SELECT …)` becomes an `IN`
//! list, `EXISTS` and a scalar subquery become a literal — which is exactly
//! what the subquery means when it does not depend on the row. A correlated
//! subquery, a quantified comparison (`= ANY (SELECT …)`), and joins in the
//! statement (`UPDATE … FROM`, `DELETE … USING`) are refused with 0A000
//! until the table's DML can take them: an error, never a wrong answer.

use std::sync::Arc;

use datafusion::arrow::array::Array;
use datafusion::common::ScalarValue;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::expr::{Exists, InList, InSubquery};
use datafusion::logical_expr::{Expr, LogicalPlan, Subquery, WriteOp, lit};
use datafusion::prelude::SessionContext;

use crate::error::BrookError;

fn unsupported(what: &str) -> DataFusionError {
    crate::error::external(BrookError::Unsupported(what.to_string()))
}

/// `plan` with the subqueries of its UPDATE/DELETE replaced by their values;
/// any other plan unchanged.
pub async fn evaluate(ctx: &SessionContext, plan: LogicalPlan) -> Result<LogicalPlan> {
    let LogicalPlan::Dml(dml) = &plan else {
        return Ok(plan);
    };
    if !matches!(dml.op, WriteOp::Delete | WriteOp::Update) {
        return Ok(plan);
    }
    let verb = if matches!(dml.op, WriteOp::Delete) {
        "DELETE"
    } else {
        "UPDATE"
    };
    let mut found: Vec<Expr> = Vec::new();
    let mut joins = false;
    dml.input.apply(|node| {
        if matches!(node, LogicalPlan::Join(_)) {
            joins = true;
        }
        node.apply_expressions(|e| {
            e.apply(|e| {
                Ok(match e {
                    Expr::Exists(_)
                    | Expr::InSubquery(_)
                    | Expr::ScalarSubquery(_)
                    | Expr::SetComparison(_) => {
                        if !found.contains(e) {
                            found.push(e.clone());
                        }
                        TreeNodeRecursion::Jump
                    }
                    _ => TreeNodeRecursion::Continue,
                })
            })
        })
    })?;
    if joins {
        return Err(unsupported(&format!(
            "{verb} that joins other tables (FROM/USING); use WHERE … IN (SELECT …) instead"
        )));
    }
    if found.is_empty() {
        return Ok(plan);
    }
    let mut replacements = Vec::with_capacity(found.len());
    for e in found {
        let value = value_of(ctx, &e, verb).await?;
        replacements.push((e, value));
    }
    plan.transform_down(|node| {
        node.map_expressions(|e| {
            e.transform_down(|e| match replacements.iter().find(|(from, _)| *from == e) {
                Some((_, to)) => Ok(Transformed::new(to.clone(), true, TreeNodeRecursion::Jump)),
                None => Ok(Transformed::no(e)),
            })
        })
    })
    .map(|t| t.data)
}

/// Whether an UPDATE/DELETE's WHERE is always false. The optimizer then
/// replaces its scan with an empty relation, DataFusion hands the table no
/// filter at all, and the table would change every row: such a statement
/// changes nothing and is answered here.
pub fn matches_nothing(ctx: &SessionContext, plan: &LogicalPlan) -> Result<bool> {
    let LogicalPlan::Dml(dml) = plan else {
        return Ok(false);
    };
    if !matches!(dml.op, WriteOp::Delete | WriteOp::Update) {
        return Ok(false);
    }
    let optimized = ctx.state().optimize(plan)?;
    let mut empty = false;
    optimized.apply(|node| {
        if let LogicalPlan::EmptyRelation(e) = node
            && !e.produce_one_row
        {
            empty = true;
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(empty)
}

/// Refuse a subquery that reads the row being changed.
fn uncorrelated<'a>(subquery: &'a Subquery, verb: &str) -> Result<&'a Arc<LogicalPlan>> {
    if subquery.outer_ref_columns.is_empty() {
        Ok(&subquery.subquery)
    } else {
        Err(unsupported(&format!(
            "{verb} with a subquery that refers to the table being changed (a correlated subquery)"
        )))
    }
}

/// The values of a subquery's single column.
async fn column_values(ctx: &SessionContext, plan: &LogicalPlan) -> Result<Vec<ScalarValue>> {
    let batches = ctx
        .execute_logical_plan(plan.clone())
        .await?
        .collect()
        .await?;
    let mut values = Vec::new();
    for batch in &batches {
        if batch.num_columns() != 1 {
            return Err(DataFusionError::Plan(
                "subquery has too many columns".to_string(),
            ));
        }
        let column = batch.column(0);
        for row in 0..column.len() {
            values.push(ScalarValue::try_from_array(column, row)?);
        }
    }
    Ok(values)
}

/// What one subquery expression stands for, as constants.
async fn value_of(ctx: &SessionContext, e: &Expr, verb: &str) -> Result<Expr> {
    match e {
        Expr::Exists(Exists { subquery, negated }) => {
            let plan = uncorrelated(subquery, verb)?;
            let limited = datafusion::logical_expr::LogicalPlanBuilder::from(plan.as_ref().clone())
                .limit(0, Some(1))?
                .build()?;
            let rows: usize = ctx
                .execute_logical_plan(limited)
                .await?
                .collect()
                .await?
                .iter()
                .map(|b| b.num_rows())
                .sum();
            Ok(lit((rows > 0) != *negated))
        }
        Expr::InSubquery(InSubquery {
            expr,
            subquery,
            negated,
        }) => {
            let plan = uncorrelated(subquery, verb)?;
            let values = column_values(ctx, plan).await?;
            if values.is_empty() {
                // x IN (empty) is false and x NOT IN (empty) true, even for NULL x.
                return Ok(lit(*negated));
            }
            let has_null = values.iter().any(ScalarValue::is_null);
            let list: Vec<Expr> = values
                .into_iter()
                .filter(|v| !v.is_null())
                .map(lit)
                .collect();
            let member = |negated| {
                Expr::InList(InList {
                    expr: expr.clone(),
                    list: list.clone(),
                    negated,
                })
            };
            if !has_null {
                return Ok(member(*negated));
            }
            // With a NULL among the values, x IN (…) is TRUE or NULL and
            // x NOT IN (…) FALSE or NULL: `x IN (the others) OR NULL` and its
            // negation say exactly that (DataFusion 55 evaluates
            // `x NOT IN (1, NULL)` to TRUE for x = 2, docs/compatibility.md;
            // delta-rs cannot run a CASE here).
            let found = if list.is_empty() {
                lit(false)
            } else {
                member(false)
            };
            if *negated {
                // NOT (x IN (…) OR NULL) reaches Delta's predicate as TRUE
                // for every x outside the list: refused until that is fixed.
                return Err(unsupported(&format!(
                    "{verb} … WHERE x NOT IN (SELECT …) when the subquery returns NULL; \
                     add WHERE … IS NOT NULL to the subquery (then no row matches, as in PostgreSQL)"
                )));
            }
            Ok(found.or(lit(ScalarValue::Boolean(None))))
        }
        Expr::ScalarSubquery(subquery) => {
            let plan = uncorrelated(subquery, verb)?;
            let mut values = column_values(ctx, plan).await?;
            match values.len() {
                0 => {
                    let field = plan.schema().field(0).clone();
                    Ok(lit(ScalarValue::try_from(field.data_type())?))
                }
                1 => Ok(lit(values.remove(0))),
                _ => Err(crate::error::external(BrookError::Cardinality(
                    "more than one row returned by a subquery used as an expression".to_string(),
                ))),
            }
        }
        _ => Err(unsupported(&format!(
            "{verb} with a quantified comparison (ANY/ALL over a subquery); write IN (SELECT …)"
        ))),
    }
}
