//! PostgreSQL functions that are rewritten rather than implemented, because
//! their answer needs the catalog: `to_regtype(name)` becomes
//! `name::regtype`, which datafusion-pg-catalog already turns into a
//! `pg_type` lookup that is NULL for an unknown name (exactly to_regtype's
//! contract). psycopg's `TypeInfo.fetch` sends it on connect (SQLAlchemy's
//! first connection looks up `hstore` with it).

use std::borrow::Cow;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    CastKind, DataType, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, ObjectName,
    VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// `sql` with the rewrites applied; unchanged (and not re-printed) when it
/// mentions none of the rewritten functions or does not parse.
pub fn rewrite(sql: &str) -> Cow<'_, str> {
    // Every query passes here: look for the name without allocating.
    const NAME: &[u8] = b"to_regtype";
    if !sql
        .as_bytes()
        .windows(NAME.len())
        .any(|w| w.eq_ignore_ascii_case(NAME))
    {
        return Cow::Borrowed(sql);
    }
    let Ok(mut statements) = Parser::parse_sql(&PostgreSqlDialect {}, sql) else {
        return Cow::Borrowed(sql);
    };
    let mut changed = false;
    for statement in &mut statements {
        let _ = statement.visit(&mut ToRegtype {
            changed: &mut changed,
        });
    }
    if !changed {
        return Cow::Borrowed(sql);
    }
    Cow::Owned(
        statements
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "),
    )
}

struct ToRegtype<'a> {
    changed: &'a mut bool,
}

impl VisitorMut for ToRegtype<'_> {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let Expr::Function(f) = expr else {
            return ControlFlow::Continue(());
        };
        let name = f.name.to_string().to_ascii_lowercase();
        if name != "to_regtype" && name != "pg_catalog.to_regtype" {
            return ControlFlow::Continue(());
        }
        let FunctionArguments::List(list) = &f.args else {
            return ControlFlow::Continue(());
        };
        if let [FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))] = list.args.as_slice() {
            *expr = Expr::Cast {
                kind: CastKind::DoubleColon,
                expr: Box::new(arg.clone()),
                data_type: DataType::Custom(ObjectName::from(vec![Ident::new("regtype")]), vec![]),
                array: false,
                format: None,
            };
            *self.changed = true;
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_regtype_becomes_a_regtype_cast() {
        assert_eq!(
            rewrite("SELECT oid FROM pg_type t WHERE t.oid = to_regtype($1)"),
            "SELECT oid FROM pg_type t WHERE t.oid = $1::regtype"
        );
        assert_eq!(
            rewrite("SELECT pg_catalog.to_regtype('int4')"),
            "SELECT 'int4'::regtype"
        );
        let untouched = "SELECT 'to_regtype' ";
        assert!(matches!(rewrite(untouched), Cow::Borrowed(_)));
        assert!(matches!(rewrite("SELECT 1"), Cow::Borrowed(_)));
    }
}
