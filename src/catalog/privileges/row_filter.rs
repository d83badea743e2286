//! Row-level security in the plan: the part of the privilege rule that
//! rewrites rather than refuses. Each scan of a policed table gets its
//! SELECT policies as a filter; an UPDATE or DELETE changes only the rows
//! its policies admit; an INSERT or UPDATE fails with 42501 `new row
//! violates row-level security policy` when a row it writes is not
//! admitted by the WITH CHECK policies. A view's tables are policed for
//! the view's owner, as its privileges are checked.
//!
//! The policies' session functions (`current_user`, `session_user`,
//! `current_setting('…')`) are replaced by their values here: a table's
//! UPDATE and DELETE evaluate their predicates outside the session, where
//! the functions would answer for nobody.

use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{Array, BooleanArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, Result, ScalarValue, TableReference};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::{
    ColumnarValue, DmlStatement, Expr, LogicalPlan, LogicalPlanBuilder, ScalarUDF, Volatility,
    WriteOp, create_udf, lit,
};

use super::plan_check::strip_alias;
use super::row_security::{Command, RowSecurityError, TablePolicies};
use super::view_boundary::as_boundary;
use super::{Identity, Privileges};
use crate::catalog::names::QualifiedName;
use crate::catalog::settings;
use crate::error::external;

/// Applies the policies of the tables `plan` reads and writes for `who`
/// (`None`: a context that is no session's, which is not policed) and
/// replaces each view boundary with the view's plan.
pub(super) fn secure(
    privileges: &Privileges,
    config: &ConfigOptions,
    plan: LogicalPlan,
    who: Option<&Identity>,
) -> Result<LogicalPlan> {
    RowFilter {
        privileges,
        config,
        default_schema: &config.catalog.default_schema,
    }
    .apply(plan, who, None)
}

struct RowFilter<'a> {
    privileges: &'a Privileges,
    config: &'a ConfigOptions,
    default_schema: &'a str,
}

/// The table an UPDATE or DELETE changes, and the rows it may change.
struct Target {
    reference: TableReference,
    admitted: Expr,
}

impl RowFilter<'_> {
    fn name(&self, reference: &TableReference) -> Option<QualifiedName> {
        super::plan_check::qualified(reference, self.default_schema)
    }

    /// The policies `who` is held to on the table `reference` names.
    fn policies(&self, who: &Identity, reference: &TableReference) -> Option<Arc<TablePolicies>> {
        self.privileges.row_policies(who, &self.name(reference)?)
    }

    fn apply(
        &self,
        plan: LogicalPlan,
        who: Option<&Identity>,
        target: Option<&Target>,
    ) -> Result<LogicalPlan> {
        plan.transform_down_with_subqueries(|node| {
            if let Some(boundary) = as_boundary(&node) {
                let owner = match who {
                    Some(_) => self.privileges.owner_identity(&boundary.view()),
                    None => None,
                };
                let inner = self.apply(boundary.input.clone(), owner.as_ref().or(who), None)?;
                return Ok(Transformed::new(inner, true, TreeNodeRecursion::Jump));
            }
            let Some(who) = who else {
                return Ok(Transformed::no(node));
            };
            match &node {
                LogicalPlan::TableScan(scan) => {
                    // The target's rows were folded with the session's values in dml().
                    let admitted = match target {
                        Some(t) if scan.table_name.resolved_eq(&t.reference) => {
                            Some(t.admitted.clone())
                        }
                        _ => match self.policies(who, &scan.table_name) {
                            Some(p) => Some(self.session_values(p.using(who, Command::Select))?),
                            None => None,
                        },
                    };
                    let Some(admitted) = admitted else {
                        return Ok(Transformed::no(node));
                    };
                    let admitted = qualified(admitted, &scan.table_name)?;
                    let filtered = LogicalPlanBuilder::from(node)
                        .filter(admitted.is_true())?
                        .build()?;
                    Ok(Transformed::new(filtered, true, TreeNodeRecursion::Jump))
                }
                LogicalPlan::Dml(dml) => {
                    let secured = self.dml(dml, who)?;
                    Ok(Transformed::new(secured, true, TreeNodeRecursion::Jump))
                }
                _ => Ok(Transformed::no(node)),
            }
        })
        .data()
    }

    /// A write, policed: the rows an UPDATE or DELETE may change, the rows
    /// an INSERT or UPDATE may write.
    fn dml(&self, dml: &DmlStatement, who: &Identity) -> Result<LogicalPlan> {
        let input = dml.input.as_ref().clone();
        let policies = match dml.op {
            WriteOp::Insert(_) | WriteOp::Update | WriteOp::Delete => {
                self.policies(who, &dml.table_name)
            }
            // TRUNCATE is not subject to policies, as in PostgreSQL.
            _ => None,
        };
        let Some(policies) = policies else {
            let input = self.apply(input, Some(who), None)?;
            return rebuilt(dml, input);
        };
        let table = dml.table_name.table().to_string();
        let input = match dml.op {
            WriteOp::Insert(_) => {
                let input = self.apply(input, Some(who), None)?;
                let check = self.session_values(policies.check(who, Command::Insert))?;
                LogicalPlanBuilder::from(input)
                    .filter(row_check(check, &table))?
                    .build()?
            }
            _ => {
                let command = if dml.op == WriteOp::Delete {
                    Command::Delete
                } else {
                    Command::Update
                };
                let mut admitted = policies.using(who, command);
                // A statement that reads the rows (a WHERE, a SET computed
                // from them) sees only those SELECT admits.
                if super::plan_check::reads_columns(&input, command == Command::Update) {
                    admitted = admitted.and(policies.using(who, Command::Select));
                }
                let admitted = self.session_values(admitted)?;
                let (input, changeable) = if command == Command::Update {
                    let check = self.session_values(policies.check(who, Command::Update))?;
                    checked_update(input, admitted, check, &table)?
                } else {
                    (input, admitted.is_true())
                };
                let target = Target {
                    reference: dml.table_name.clone(),
                    admitted: changeable,
                };
                self.apply(input, Some(who), Some(&target))?
            }
        };
        rebuilt(dml, input)
    }

    /// `expr` with the session's functions replaced by their values.
    fn session_values(&self, expr: Expr) -> Result<Expr> {
        expr.transform_up(|e| {
            let Expr::ScalarFunction(call) = &e else {
                return Ok(Transformed::no(e));
            };
            let value = match call.func.name() {
                "current_user" | "current_role" | "user" => {
                    lit(settings::session_role(self.config))
                }
                "session_user" => lit(settings::login_role(self.config)),
                "current_setting" => match call.args.as_slice() {
                    [Expr::Literal(ScalarValue::Utf8(Some(name)), _), rest @ ..] => {
                        let missing_ok =
                            matches!(rest, [Expr::Literal(ScalarValue::Boolean(Some(true)), _)]);
                        match settings::value(self.config, name) {
                            Some(v) => lit(v),
                            None if missing_ok => lit(ScalarValue::Utf8(None)),
                            None => {
                                return Err(external(crate::error::BrookError::UndefinedObject(
                                    format!("unrecognized configuration parameter \"{name}\""),
                                )));
                            }
                        }
                    }
                    _ => return Ok(Transformed::no(e)),
                },
                _ => return Ok(Transformed::no(e)),
            };
            Ok(Transformed::yes(value))
        })
        .data()
    }
}

fn rebuilt(dml: &DmlStatement, input: LogicalPlan) -> Result<LogicalPlan> {
    Ok(LogicalPlan::Dml(DmlStatement {
        input: Arc::new(input),
        ..dml.clone()
    }))
}

/// `expr`'s bare columns as columns of `table`.
fn qualified(expr: Expr, table: &TableReference) -> Result<Expr> {
    expr.transform_up(|e| match e {
        Expr::Column(c) if c.relation.is_none() => Ok(Transformed::yes(Expr::Column(Column::new(
            Some(table.clone()),
            c.name,
        )))),
        other => Ok(Transformed::no(other)),
    })
    .data()
}

/// An UPDATE's input without its WHERE, and the one condition that
/// takes its place on the table's scan: the rows the WHERE and `admitted`
/// select, failing the statement (42501) for a selected row whose new
/// values `check` does not admit. The new row is `check` over the
/// statement's SET values.
///
/// One condition, with the WHERE inside it, because a row the statement
/// does not change must not be checked, and because the optimizer would
/// split a filter that repeats the WHERE into projections the table's
/// UPDATE cannot read.
fn checked_update(
    input: LogicalPlan,
    admitted: Expr,
    check: Expr,
    table: &str,
) -> Result<(LogicalPlan, Expr)> {
    let LogicalPlan::Projection(projection) = &input else {
        return Err(external(RowSecurityError::Unsupported(
            "this UPDATE on a table with row-level security".into(),
        )));
    };
    let values: Vec<(String, Expr)> = projection
        .expr
        .iter()
        .zip(projection.schema.fields())
        .map(|(e, f)| (f.name().clone(), strip_alias(e).clone()))
        .collect();
    let new_row = check
        .transform_up(|e| match e {
            Expr::Column(c) if c.relation.is_none() => {
                match values.iter().find(|(name, _)| *name == c.name) {
                    Some((_, value)) => Ok(Transformed::yes(value.clone())),
                    None => Ok(Transformed::no(Expr::Column(c))),
                }
            }
            other => Ok(Transformed::no(other)),
        })
        .data()?;
    // The WHERE (subqueries are values by now, joins refused) moves into
    // the condition.
    let mut selected = admitted;
    let input = input
        .transform_up(|node| match node {
            LogicalPlan::Filter(filter) => {
                selected = selected.clone().and(filter.predicate.clone());
                Ok(Transformed::yes(filter.input.as_ref().clone()))
            }
            other => Ok(Transformed::no(other)),
        })
        .data()?;
    let condition = Expr::ScalarFunction(ScalarFunction::new_udf(
        update_check_udf(),
        vec![selected, new_row, lit(table.to_string())],
    ));
    Ok((input, condition))
}

/// `true` where `admitted` is true; the statement fails with 42501 on a
/// row where it is false or NULL.
fn row_check(admitted: Expr, table: &str) -> Expr {
    Expr::ScalarFunction(ScalarFunction::new_udf(
        row_check_udf(),
        vec![admitted, lit(table.to_string())],
    ))
}

/// The function behind [`row_check`]. Not registered with the engine: it
/// is only ever put into plans here.
fn row_check_udf() -> Arc<ScalarUDF> {
    static UDF: OnceLock<Arc<ScalarUDF>> = OnceLock::new();
    UDF.get_or_init(|| {
        Arc::new(create_udf(
            "brook_row_security_check",
            vec![DataType::Boolean, DataType::Utf8],
            DataType::Boolean,
            // Never folded away at planning: a VALUES row is checked too.
            Volatility::Volatile,
            Arc::new(|args: &[ColumnarValue]| {
                let table = match args.get(1) {
                    Some(ColumnarValue::Scalar(ScalarValue::Utf8(Some(t)))) => t.clone(),
                    _ => String::new(),
                };
                let violation = || external(RowSecurityError::Violation(table.clone()));
                match args.first() {
                    Some(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true)))) => {
                        Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))
                    }
                    Some(ColumnarValue::Array(array)) => {
                        let admitted = array
                            .as_any()
                            .downcast_ref::<BooleanArray>()
                            .ok_or_else(violation)?;
                        if admitted.null_count() > 0 || admitted.false_count() > 0 {
                            return Err(violation());
                        }
                        Ok(ColumnarValue::Array(array.clone()))
                    }
                    _ => Err(violation()),
                }
            }),
        ))
    })
    .clone()
}

/// `update_check(selected, admitted_new, table)`: whether the row is one
/// the UPDATE changes (NULL: no); 42501 for a changed row whose new values
/// are not admitted.
fn update_check_udf() -> Arc<ScalarUDF> {
    static UDF: OnceLock<Arc<ScalarUDF>> = OnceLock::new();
    UDF.get_or_init(|| {
        Arc::new(create_udf(
            "brook_row_security_update_check",
            vec![DataType::Boolean, DataType::Boolean, DataType::Utf8],
            DataType::Boolean,
            Volatility::Volatile,
            Arc::new(|args: &[ColumnarValue]| {
                let table = match args.get(2) {
                    Some(ColumnarValue::Scalar(ScalarValue::Utf8(Some(t)))) => t.clone(),
                    _ => String::new(),
                };
                let violation = || external(RowSecurityError::Violation(table.clone()));
                let len = args
                    .iter()
                    .find_map(|a| match a {
                        ColumnarValue::Array(a) => Some(a.len()),
                        ColumnarValue::Scalar(_) => None,
                    })
                    .unwrap_or(1);
                let rows = args
                    .iter()
                    .take(2)
                    .map(|a| a.to_array(len))
                    .collect::<Result<Vec<_>>>()?;
                let [selected, admitted] = rows.as_slice() else {
                    return Err(violation());
                };
                let as_bool =
                    |a: &Arc<dyn Array>| a.as_any().downcast_ref::<BooleanArray>().cloned();
                let (Some(selected), Some(admitted)) = (as_bool(selected), as_bool(admitted))
                else {
                    return Err(violation());
                };
                let mut out = Vec::with_capacity(len);
                for i in 0..len {
                    let changed = selected.is_valid(i) && selected.value(i);
                    if changed && !(admitted.is_valid(i) && admitted.value(i)) {
                        return Err(violation());
                    }
                    out.push(changed);
                }
                Ok(ColumnarValue::Array(Arc::new(BooleanArray::from(out))))
            }),
        ))
    })
    .clone()
}
