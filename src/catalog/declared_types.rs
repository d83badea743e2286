//! Which result columns are `varchar`, `uuid`, `json` or `jsonb`.
//!
//! Brook stores those types as Arrow text ([`TextType`]), so a plan's
//! schema says `Utf8` and the client was told `text` for a column declared
//! `varchar(40)` — psycopg, JDBC and BI tools pick their reader by the type
//! named, and a jsonb column came back to psycopg2 as a string instead of a
//! dict. PostgreSQL names the declared type for a column read as it is (also
//! through joins, views, subqueries and `UNION`s), for the casts to it, and
//! for a `CASE`/`COALESCE` whose branches all have it; any other expression
//! over it (`v || ''`, `max(v)`) is `text`. This follows each result column
//! of the analyzed plan back to where it comes from, with those rules.
//!
//! The same lineage answers `pg_typeof(x)` for such a column
//! ([`TypeofDeclared`]): the function itself sees only the Arrow type and
//! said `text` where PostgreSQL says `uuid`.

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result as DfResult, ScalarValue};
use datafusion::datasource::source_as_provider;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{Distinct, Expr, JoinType, LogicalPlan, lit};
use datafusion::optimizer::AnalyzerRule;

use super::pg_text_casts;
use crate::storage::table::DurableTable;
use crate::storage::text_types::TextType;

/// What a column's values are, for the rules above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// A column of this declared type, or a cast to it.
    Declared(TextType),
    /// A string literal or NULL: it takes the type of what it is combined
    /// with, as PostgreSQL's `unknown` does.
    Unknown,
    Other,
}

/// The declared type of each of `plan`'s output columns that has one.
pub fn text_types(plan: &LogicalPlan) -> Vec<Option<TextType>> {
    origins(plan)
        .into_iter()
        .map(|o| match o {
            Origin::Declared(t) => Some(t),
            _ => None,
        })
        .collect()
}

/// `pg_typeof(x)` where `x` is a column declared (or cast to) `uuid`,
/// `json`, `jsonb` or `varchar`: that type's name, as PostgreSQL answers.
/// An analyzer rule, after the others (the argument is then as it runs).
#[derive(Debug, Default)]
pub struct TypeofDeclared;

impl AnalyzerRule for TypeofDeclared {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> DfResult<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            let (origins, schema) = match node.inputs().as_slice() {
                [input] => (origins(input), input.schema().clone()),
                _ => return Ok(Transformed::no(node)),
            };
            let names = NamePreserver::new(&node);
            node.map_expressions(|expr| {
                let name = names.save(&expr);
                expr.transform_up(|e| Ok(declared_typeof(e, &schema, &origins)))
                    .map(|t| t.update_data(|e| name.restore(e)))
            })?
            .map_data(|node| node.recompute_schema())
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "brook_typeof_declared"
    }
}

fn declared_typeof(expr: Expr, schema: &DFSchema, input: &[Origin]) -> Transformed<Expr> {
    let Expr::ScalarFunction(call) = &expr else {
        return Transformed::no(expr);
    };
    if call.func.name() != "pg_typeof" {
        return Transformed::no(expr);
    }
    match call.args.as_slice() {
        [argument] => match of_expr(argument, schema, input) {
            Origin::Declared(kind) => Transformed::yes(lit(kind.pg_name())),
            _ => Transformed::no(expr),
        },
        _ => Transformed::no(expr),
    }
}

fn others(plan: &LogicalPlan) -> Vec<Origin> {
    vec![Origin::Other; plan.schema().fields().len()]
}

fn origins(plan: &LogicalPlan) -> Vec<Origin> {
    let width = plan.schema().fields().len();
    let found = match plan {
        LogicalPlan::TableScan(scan) => {
            let table = source_as_provider(&scan.source).ok();
            let durable = table
                .as_ref()
                .and_then(|t| t.downcast_ref::<DurableTable>());
            match durable {
                Some(table) => {
                    let indices: Vec<usize> = match &scan.projection {
                        Some(p) => p.clone(),
                        None => (0..width).collect(),
                    };
                    indices
                        .into_iter()
                        .map(|i| table.text_type(i).map_or(Origin::Other, Origin::Declared))
                        .collect()
                }
                None => others(plan),
            }
        }
        LogicalPlan::Projection(p) => {
            let input = origins(&p.input);
            p.expr
                .iter()
                .map(|e| of_expr(e, p.input.schema(), &input))
                .collect()
        }
        LogicalPlan::Filter(f) => origins(&f.input),
        LogicalPlan::Sort(s) => origins(&s.input),
        LogicalPlan::Limit(l) => origins(&l.input),
        LogicalPlan::Repartition(r) => origins(&r.input),
        LogicalPlan::SubqueryAlias(s) => origins(&s.input),
        LogicalPlan::Distinct(Distinct::All(input)) => origins(input),
        LogicalPlan::Distinct(Distinct::On(on)) => {
            let input = origins(&on.input);
            on.select_expr
                .iter()
                .map(|e| of_expr(e, on.input.schema(), &input))
                .collect()
        }
        LogicalPlan::Aggregate(a) => {
            let input = origins(&a.input);
            let mut out: Vec<Origin> = a
                .group_expr
                .iter()
                .map(|e| of_expr(e, a.input.schema(), &input))
                .collect();
            out.extend(a.aggr_expr.iter().map(|_| Origin::Other));
            out
        }
        LogicalPlan::Window(w) => {
            let mut out = origins(&w.input);
            out.extend(w.window_expr.iter().map(|_| Origin::Other));
            out
        }
        LogicalPlan::Join(j) => {
            let (left, right) = (origins(&j.left), origins(&j.right));
            match j.join_type {
                JoinType::Inner | JoinType::Left | JoinType::Right | JoinType::Full => {
                    left.into_iter().chain(right).collect()
                }
                JoinType::LeftSemi | JoinType::LeftAnti => left,
                JoinType::RightSemi | JoinType::RightAnti => right,
                JoinType::LeftMark => left.into_iter().chain([Origin::Other]).collect(),
                JoinType::RightMark => right.into_iter().chain([Origin::Other]).collect(),
            }
        }
        LogicalPlan::Union(u) => {
            let inputs: Vec<Vec<Origin>> = u.inputs.iter().map(|i| origins(i)).collect();
            (0..width)
                .map(|i| combine(inputs.iter().map(|cols| cols.get(i).copied())))
                .collect()
        }
        _ => others(plan),
    };
    // A plan shape not followed right (grouping sets add a column) says
    // nothing rather than something wrong.
    if found.len() == width {
        found
    } else {
        vec![Origin::Other; width]
    }
}

/// The origin of `expr`'s values, over an input with `schema` whose
/// columns have `input` origins.
fn of_expr(expr: &Expr, schema: &DFSchema, input: &[Origin]) -> Origin {
    match expr {
        Expr::Alias(a) => of_expr(&a.expr, schema, input),
        Expr::Column(c) => schema
            .index_of_column(c)
            .ok()
            .and_then(|i| input.get(i).copied())
            .unwrap_or(Origin::Other),
        Expr::Literal(value, _)
            if value.is_null()
                || matches!(
                    value,
                    ScalarValue::Utf8(_) | ScalarValue::Utf8View(_) | ScalarValue::LargeUtf8(_)
                ) =>
        {
            Origin::Unknown
        }
        Expr::Cast(c) if matches!(c.expr.as_ref(), Expr::Literal(v, _) if v.is_null()) => {
            Origin::Unknown
        }
        Expr::ScalarFunction(f) => {
            let name = f.func.name();
            if let Some(kind) = pg_text_casts::cast_type(name) {
                return Origin::Declared(kind);
            }
            match name {
                "coalesce" | "nullif" | "greatest" | "least" => {
                    combine(f.args.iter().map(|a| Some(of_expr(a, schema, input))))
                }
                _ => Origin::Other,
            }
        }
        Expr::Case(case) => combine(
            case.when_then_expr
                .iter()
                .map(|(_, then)| Some(of_expr(then, schema, input)))
                .chain(
                    case.else_expr
                        .iter()
                        .map(|e| Some(of_expr(e, schema, input))),
                ),
        ),
        Expr::ScalarSubquery(sq) => origins(&sq.subquery)
            .first()
            .copied()
            .unwrap_or(Origin::Other),
        _ => Origin::Other,
    }
}

/// PostgreSQL's choice of one type for values from several places
/// (`UNION`, `CASE`, `COALESCE`): the declared type if every place has it
/// or is an unknown literal; unknown if all are; else text.
fn combine(origins: impl Iterator<Item = Option<Origin>>) -> Origin {
    let mut found = Origin::Unknown;
    for origin in origins {
        match (found, origin) {
            (_, None | Some(Origin::Other)) => return Origin::Other,
            (_, Some(Origin::Unknown)) => {}
            (Origin::Unknown, Some(declared)) => found = declared,
            (Origin::Declared(a), Some(Origin::Declared(b))) if a == b => {}
            _ => return Origin::Other,
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_type_from_several_places_is_postgresqls() {
        let varchar = Origin::Declared(TextType::Varchar);
        let v = Some(varchar);
        let u = Some(Origin::Unknown);
        assert_eq!(combine([v, u, v].into_iter()), varchar);
        assert_eq!(combine([u, u].into_iter()), Origin::Unknown);
        assert_eq!(combine([v, Some(Origin::Other)].into_iter()), Origin::Other);
        assert_eq!(
            combine([v, Some(Origin::Declared(TextType::Jsonb))].into_iter()),
            Origin::Other
        );
    }
}
