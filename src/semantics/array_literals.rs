//! A string constant where an array is expected: PostgreSQL types an
//! untyped literal from its context, so `polroles = '{0}'` compares with
//! the array `{0}` and `CASE … THEN acldefault(…) ELSE '{}' END` is an
//! array. DataFusion keeps the literal as text and cannot compare or unify
//! it with a list. Before type coercion, such a literal (`'{…}'`, in
//! PostgreSQL's array syntax) beside a list is parsed into a list of the
//! list's element type; a malformed one is 22P02, as in PostgreSQL.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::Transformed;
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::logical_expr::expr::{BinaryExpr, Case};
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlan};
use datafusion::optimizer::AnalyzerRule;

/// The analyzer rule; runs before DataFusion's `TypeCoercion`.
#[derive(Debug, Default)]
pub struct ArrayLiterals;

impl AnalyzerRule for ArrayLiterals {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        super::rewrite_expressions(plan, typed)
    }

    fn name(&self) -> &str {
        "brook_array_literals"
    }
}

fn typed(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    match expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) if op.supports_propagation() => {
            let (left, right) = match (element_type(&left, schema), element_type(&right, schema)) {
                (Some(element), None) => (left, as_list(*right, &element)?),
                (None, Some(element)) => (as_list(*left, &element)?, right),
                _ => {
                    return Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr {
                        left,
                        op,
                        right,
                    })));
                }
            };
            Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr {
                left,
                op,
                right,
            })))
        }
        Expr::Case(case) => {
            let results = case
                .when_then_expr
                .iter()
                .map(|(_, then)| then.as_ref())
                .chain(case.else_expr.as_deref());
            let Some(element) = results.filter_map(|e| element_type(e, schema)).next() else {
                return Ok(Transformed::no(Expr::Case(case)));
            };
            let Case {
                expr,
                when_then_expr,
                else_expr,
            } = case;
            let when_then_expr = when_then_expr
                .into_iter()
                .map(|(when, then)| Ok((when, as_list(*then, &element)?)))
                .collect::<Result<Vec<_>>>()?;
            let else_expr = else_expr.map(|e| as_list(*e, &element)).transpose()?;
            Ok(Transformed::yes(Expr::Case(Case {
                expr,
                when_then_expr,
                else_expr,
            })))
        }
        other => Ok(Transformed::no(other)),
    }
}

/// The element type of `expr` if it is a list.
fn element_type(expr: &Expr, schema: &DFSchema) -> Option<DataType> {
    match expr.get_type(schema).ok()? {
        DataType::List(field) | DataType::LargeList(field) => Some(field.data_type().clone()),
        _ => None,
    }
}

/// `expr`, boxed, parsed into a list of `element` if it is a string
/// constant in array syntax.
fn as_list(expr: Expr, element: &DataType) -> Result<Box<Expr>> {
    let text = match &expr {
        Expr::Literal(
            ScalarValue::Utf8(Some(t))
            | ScalarValue::Utf8View(Some(t))
            | ScalarValue::LargeUtf8(Some(t)),
            _,
        ) if t.trim_start().starts_with('{') => t.clone(),
        _ => return Ok(Box::new(expr)),
    };
    let items = parse_array(&text).ok_or_else(|| {
        crate::error::external(super::error::SemanticsError::MalformedArray(text.clone()))
    })?;
    let values = items
        .into_iter()
        .map(|item| ScalarValue::Utf8(item).cast_to(element))
        .collect::<Result<Vec<_>>>()?;
    Ok(Box::new(Expr::Literal(
        ScalarValue::List(ScalarValue::new_list_nullable(&values, element)),
        None,
    )))
}

/// The items of a one-dimensional PostgreSQL array constant (`{a,"b c",NULL}`);
/// None when it is not one.
fn parse_array(text: &str) -> Option<Vec<Option<String>>> {
    let inner = text.trim().strip_prefix('{')?.strip_suffix('}')?;
    if inner.trim().is_empty() {
        return Some(Vec::new());
    }
    let mut items = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut item = String::new();
        let quoted = chars.peek() == Some(&'"');
        if quoted {
            chars.next();
            loop {
                match chars.next()? {
                    '\\' => item.push(chars.next()?),
                    '"' => break,
                    c => item.push(c),
                }
            }
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                if c == '{' || c == '}' || c == '"' {
                    return None;
                }
                item.push(c);
                chars.next();
            }
            item = item.trim().to_string();
            if item.is_empty() {
                return None;
            }
        }
        let null = !quoted && item.eq_ignore_ascii_case("null");
        items.push((!null).then_some(item));
        match chars.next() {
            None => return Some(items),
            Some(',') => continue,
            Some(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_constants_parse_as_postgresql_reads_them() {
        assert_eq!(parse_array("{}"), Some(vec![]));
        assert_eq!(
            parse_array("{0, 12}"),
            Some(vec![Some("0".into()), Some("12".into())])
        );
        assert_eq!(
            parse_array(r#"{"a,b",NULL,"NULL"}"#),
            Some(vec![Some("a,b".into()), None, Some("NULL".into())])
        );
        assert_eq!(parse_array("{a,,b}"), None);
        assert_eq!(parse_array("{{1}}"), None);
        assert_eq!(parse_array("0"), None);
    }
}
