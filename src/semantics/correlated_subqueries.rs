//! Correlated subqueries that DataFusion cannot turn into joins, run once
//! per outer row as PostgreSQL runs a SubPlan.
//!
//! DataFusion decorrelates a subquery whose correlation is an equality (and a
//! few other shapes); any other, `(SELECT count(*) FROM t2 WHERE t2.x >
//! t1.a)` among them, reached the physical planner and failed ("Physical plan
//! does not support logical expression ScalarSubquery"), or, before Brook
//! shielded it from datafusion-pg-catalog's rewrite, answered NULL. This
//! optimizer rule runs after DataFusion's own: every subquery still
//! correlated becomes a function of the outer columns it reads, which
//! substitutes each row's values into the subquery's plan and runs it.
//! Results are memoised per distinct outer values within a batch.
//!
//! This is PostgreSQL's own strategy for such subqueries, so it is correct
//! by construction; it is as slow as theirs on large outer inputs, which is
//! why DataFusion's joins are always tried first.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DataFusionError, Result, ScalarValue};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::logical_expr::expr::{Exists, InSubquery, ScalarFunction};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{
    ColumnarValue, Expr, LogicalPlan, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    Subquery, Volatility,
};
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};
use datafusion::prelude::SessionContext;

use super::error::SemanticsError;

/// The optimizer rule; runs after DataFusion's rules.
#[derive(Debug)]
pub struct CorrelatedSubqueries {
    runtime: Arc<RuntimeEnv>,
}

impl CorrelatedSubqueries {
    /// Subqueries run on `runtime` (the server's memory pool).
    pub fn new(runtime: Arc<RuntimeEnv>) -> Self {
        Self { runtime }
    }
}

impl OptimizerRule for CorrelatedSubqueries {
    fn name(&self) -> &str {
        "brook_correlated_subqueries"
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        plan.transform_up(|plan| {
            if !plan.expressions().iter().any(has_correlated_subquery) {
                return Ok(Transformed::no(plan));
            }
            let names = NamePreserver::new(&plan);
            plan.map_expressions(|expr| {
                let name = names.save(&expr);
                expr.transform_up(|e| self.per_row(e))
                    .map(|t| t.update_data(|e| name.restore(e)))
            })?
            .map_data(|plan| plan.recompute_schema())
        })
    }
}

/// Subqueries DataFusion answers wrongly or refuses before its optimizer
/// could join them, sent to the per-row function at the end of analysis:
///
/// - `constant NOT IN (SELECT …)`: DataFusion 55 plans it as an anti join
///   that ignores the NULLs the subquery returns, so `7 NOT IN (SELECT x …)`
///   kept every row where PostgreSQL keeps none when `x` has a NULL. With no
///   column on its left the test is the same for every row: it runs once.
/// - a correlated scalar subquery that is not an aggregate (`(SELECT
///   d.adbin FROM pg_attrdef d WHERE d.adnum = a.attnum)`, what psql's `\d`
///   sends): DataFusion refuses it ("must be aggregated"); PostgreSQL runs
///   it and fails only if a row finds two (21000), as the function does.
#[derive(Debug)]
pub struct PerRowSubqueries {
    runtime: Arc<RuntimeEnv>,
}

impl PerRowSubqueries {
    pub fn new(runtime: Arc<RuntimeEnv>) -> Self {
        Self { runtime }
    }
}

impl datafusion::optimizer::AnalyzerRule for PerRowSubqueries {
    fn analyze(
        &self,
        plan: LogicalPlan,
        _config: &datafusion::common::config::ConfigOptions,
    ) -> Result<LogicalPlan> {
        let rule = CorrelatedSubqueries::new(self.runtime.clone());
        plan.transform_up_with_subqueries(|plan| {
            let names = NamePreserver::new(&plan);
            plan.map_expressions(|expr| {
                let name = names.save(&expr);
                expr.transform_up(|e| match e {
                    Expr::InSubquery(InSubquery {
                        expr,
                        subquery,
                        negated: true,
                    }) if !is_correlated(&subquery) && expr.column_refs().is_empty() => rule
                        .function(Kind::In { negated: true }, subquery, Some(*expr))
                        .map(Transformed::yes),
                    Expr::ScalarSubquery(subquery)
                        if is_correlated(&subquery) && !at_most_one_row(&subquery.subquery) =>
                    {
                        rule.function(Kind::Scalar, subquery, None)
                            .map(Transformed::yes)
                    }
                    other => Ok(Transformed::no(other)),
                })
                .map(|t| t.update_data(|e| name.restore(e)))
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "brook_per_row_subqueries"
    }
}

/// Whether DataFusion accepts `plan` as a correlated scalar subquery: an
/// aggregate (under projections and aliases), or at most one row.
fn at_most_one_row(plan: &LogicalPlan) -> bool {
    let mut inner = plan;
    loop {
        match inner {
            LogicalPlan::Projection(p) => inner = p.input.as_ref(),
            LogicalPlan::SubqueryAlias(a) => inner = a.input.as_ref(),
            _ => break,
        }
    }
    match inner {
        LogicalPlan::Aggregate(_) => true,
        LogicalPlan::Filter(f) => matches!(f.input.as_ref(), LogicalPlan::Aggregate(_)),
        _ => plan.max_rows().is_some_and(|n| n <= 1),
    }
}

fn is_correlated(subquery: &Subquery) -> bool {
    !subquery.outer_ref_columns.is_empty()
}

fn has_correlated_subquery(expr: &Expr) -> bool {
    expr.exists(|e| {
        Ok(match e {
            Expr::ScalarSubquery(s) => is_correlated(s),
            Expr::Exists(Exists { subquery, .. })
            | Expr::InSubquery(InSubquery { subquery, .. }) => is_correlated(subquery),
            _ => false,
        })
    })
    .unwrap_or(false)
}

impl CorrelatedSubqueries {
    fn per_row(&self, expr: Expr) -> Result<Transformed<Expr>> {
        let (kind, subquery, compared) = match expr {
            Expr::ScalarSubquery(s) if is_correlated(&s) => (Kind::Scalar, s, None),
            Expr::Exists(Exists { subquery, negated }) if is_correlated(&subquery) => {
                (Kind::Exists { negated }, subquery, None)
            }
            Expr::InSubquery(InSubquery {
                expr,
                subquery,
                negated,
            }) if is_correlated(&subquery) => (Kind::In { negated }, subquery, Some(*expr)),
            other => return Ok(Transformed::no(other)),
        };
        self.function(kind, subquery, compared)
            .map(Transformed::yes)
    }

    /// The per-row function for `subquery` (and the compared value of IN).
    fn function(&self, kind: Kind, subquery: Subquery, compared: Option<Expr>) -> Result<Expr> {
        let mut outer = Vec::new();
        let mut args = Vec::new();
        if let Some(compared) = compared {
            args.push(compared);
        }
        for e in &subquery.outer_ref_columns {
            if let Expr::OuterReferenceColumn(_, column) = e
                && !outer.contains(column)
            {
                outer.push(column.clone());
                args.push(Expr::Column(column.clone()));
            }
        }
        let returns = match kind {
            Kind::Scalar => subquery
                .subquery
                .schema()
                .fields()
                .first()
                .map(|f| f.data_type().clone())
                .unwrap_or(DataType::Null),
            _ => DataType::Boolean,
        };
        let udf = PerRow {
            kind,
            plan: subquery.subquery.clone(),
            outer,
            returns,
            signature: Signature::variadic_any(Volatility::Volatile),
            runtime: self.runtime.clone(),
        };
        Ok(Expr::ScalarFunction(ScalarFunction::new_udf(
            Arc::new(ScalarUDF::new_from_impl(udf)),
            args,
        )))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    /// `(SELECT …)`: its one value, NULL without rows, 21000 with several.
    Scalar,
    /// `[NOT] EXISTS (SELECT …)`.
    Exists { negated: bool },
    /// `x [NOT] IN (SELECT …)`, with SQL's NULL rules; `x` is the first argument.
    In { negated: bool },
}

/// One correlated subquery as a function of the outer columns it reads.
#[derive(Debug)]
struct PerRow {
    kind: Kind,
    plan: Arc<LogicalPlan>,
    outer: Vec<Column>,
    returns: DataType,
    signature: Signature,
    runtime: Arc<RuntimeEnv>,
}

impl PartialEq for PerRow {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.plan == other.plan && self.outer == other.outer
    }
}

impl Eq for PerRow {}

impl Hash for PerRow {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.kind.hash(state);
        self.plan.hash(state);
        self.outer.hash(state);
    }
}

impl ScalarUDFImpl for PerRow {
    fn name(&self) -> &str {
        "correlated_subquery"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(self.returns.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| {
            DataFusionError::Execution("a correlated subquery needs the server's runtime".into())
        })?;
        if handle.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            return Err(DataFusionError::Execution(
                "a correlated subquery needs a multi-threaded runtime".into(),
            ));
        }
        // All arguments constant (a constant NOT IN): one evaluation.
        let constant = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if constant { 1 } else { args.number_rows };
        let arrays = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<Result<Vec<_>>>()?;
        let ctx = SessionContext::new_with_state(
            SessionStateBuilder::new()
                .with_config(datafusion::prelude::SessionConfig::from(
                    args.config_options.as_ref().clone(),
                ))
                .with_runtime_env(self.runtime.clone())
                .with_default_features()
                .with_optimizer_rule(Arc::new(CorrelatedSubqueries::new(self.runtime.clone())))
                .build(),
        );
        let mut memo: HashMap<Vec<ScalarValue>, ScalarValue> = HashMap::new();
        let mut out = Vec::with_capacity(rows);
        for row in 0..rows {
            let values = arrays
                .iter()
                .map(|a| ScalarValue::try_from_array(a, row))
                .collect::<Result<Vec<_>>>()?;
            if let Some(v) = memo.get(&values) {
                out.push(v.clone());
                continue;
            }
            let (compared, outer) = match self.kind {
                Kind::In { .. } => (values.first().cloned(), &values[1.min(values.len())..]),
                _ => (None, &values[..]),
            };
            let plan = substitute(&self.plan, &self.outer, outer)?;
            let batches = tokio::task::block_in_place(|| {
                handle.block_on(async { ctx.execute_logical_plan(plan).await?.collect().await })
            })?;
            let value = self.answer(&batches, compared)?;
            memo.insert(values, value.clone());
            out.push(value);
        }
        if constant && let Some(value) = out.pop() {
            return Ok(ColumnarValue::Scalar(value));
        }
        if out.is_empty() {
            return Ok(ColumnarValue::Array(
                datafusion::arrow::array::new_empty_array(&self.returns),
            ));
        }
        Ok(ColumnarValue::Array(ScalarValue::iter_to_array(out)?))
    }
}

impl PerRow {
    /// The subquery's answer for one outer row, from its result rows.
    fn answer(
        &self,
        batches: &[RecordBatch],
        compared: Option<ScalarValue>,
    ) -> Result<ScalarValue> {
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        match self.kind {
            Kind::Scalar => {
                if rows > 1 {
                    return Err(crate::error::external(SemanticsError::TooManyRows));
                }
                match batches.iter().find(|b| b.num_rows() > 0) {
                    Some(b) => ScalarValue::try_from_array(b.column(0), 0)?.cast_to(&self.returns),
                    None => ScalarValue::try_from(&self.returns),
                }
            }
            Kind::Exists { negated } => Ok(ScalarValue::Boolean(Some((rows > 0) != negated))),
            Kind::In { negated } => {
                let Some(x) = compared else {
                    return Ok(ScalarValue::Boolean(None));
                };
                if rows == 0 {
                    return Ok(ScalarValue::Boolean(Some(negated)));
                }
                if x.is_null() {
                    return Ok(ScalarValue::Boolean(None));
                }
                let mut saw_null = false;
                for b in batches {
                    let column = b.column(0);
                    for i in 0..column.len() {
                        let v = ScalarValue::try_from_array(column, i)?;
                        if v.is_null() {
                            saw_null = true;
                        } else if v.cast_to(&x.data_type())? == x {
                            return Ok(ScalarValue::Boolean(Some(!negated)));
                        }
                    }
                }
                Ok(ScalarValue::Boolean(if saw_null {
                    None
                } else {
                    Some(negated)
                }))
            }
        }
    }
}

/// `plan` with each reference to outer column `outer[i]` replaced by `values[i]`.
fn substitute(plan: &LogicalPlan, outer: &[Column], values: &[ScalarValue]) -> Result<LogicalPlan> {
    plan.clone()
        .transform_up_with_subqueries(|node| {
            node.map_expressions(|e| {
                e.transform_up(|e| match e {
                    Expr::OuterReferenceColumn(field, column) => {
                        match outer.iter().position(|c| c == &column) {
                            Some(i) => {
                                let value = values
                                    .get(i)
                                    .cloned()
                                    .unwrap_or(ScalarValue::Null)
                                    .cast_to(field.data_type())?;
                                Ok(Transformed::yes(Expr::Literal(value, None)))
                            }
                            None => Ok(Transformed::no(Expr::OuterReferenceColumn(field, column))),
                        }
                    }
                    other => Ok(Transformed::no(other)),
                })
            })
        })
        .map(|t| t.data)
}
