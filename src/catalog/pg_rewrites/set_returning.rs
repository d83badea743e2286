//! `generate_series` as PostgreSQL runs it outside FROM and names it inside.
//!
//! - In a select list it is a set-returning function: `SELECT
//!   generate_series(1, 3)` is three rows. DataFusion's scalar
//!   `generate_series` returns one array (`{1,2,3}`), a wrong answer; it
//!   becomes `unnest(generate_series(…))`, which DataFusion expands into
//!   rows and zips with a sibling set-returning item as PostgreSQL 10+
//!   does (the shorter padded with NULLs).
//! - In FROM with an alias and no column names (`FROM generate_series(1, 3)
//!   AS g`, `… i`), PostgreSQL names its one column after the alias;
//!   DataFusion called it `value`. The alias gets that column name.

use datafusion::sql::sqlparser::ast::{
    Expr, Query, SelectItem, SetExpr, TableAliasColumnDef, TableFactor,
};

fn is_generate_series(name: &datafusion::sql::sqlparser::ast::ObjectName) -> bool {
    let text = name.to_string().to_ascii_lowercase();
    text == "generate_series" || text == "pg_catalog.generate_series"
}

/// Each select item of `query` that is a `generate_series(…)` call as
/// `unnest(generate_series(…))`; whether any was. Only whole items: Brook's
/// own rewrites put `generate_series` inside `unnest` elsewhere.
pub(super) fn rows_in_items(query: &mut Query) -> bool {
    let SetExpr::Select(select) = query.body.as_mut() else {
        return false;
    };
    let mut changed = false;
    for item in &mut select.projection {
        let expr = match item {
            SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => expr,
            _ => continue,
        };
        if let Expr::Function(f) = expr
            && is_generate_series(&f.name)
        {
            *expr = super::call("unnest", vec![Expr::Function(f.clone())]);
            changed = true;
        }
    }
    changed
}

/// Name the column of an aliased `generate_series` in FROM after its
/// alias; whether it did.
pub(super) fn name_column(factor: &mut TableFactor) -> bool {
    let (name, alias) = match factor {
        TableFactor::Table {
            name,
            args: Some(_),
            alias,
            ..
        } => (name, alias),
        TableFactor::Function { name, alias, .. } => (name, alias),
        _ => return false,
    };
    if !is_generate_series(name) {
        return false;
    }
    match alias {
        Some(alias) if alias.columns.is_empty() => {
            alias.columns = vec![TableAliasColumnDef {
                name: alias.name.clone(),
                data_type: None,
            }];
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::rewrite;

    #[test]
    fn generate_series_gives_rows_and_takes_its_aliases_name() {
        assert_eq!(
            rewrite("SELECT generate_series(1, 3)"),
            "SELECT unnest(generate_series(CAST(1 AS INT4), CAST(3 AS INT4))) AS \"generate_series\""
        );
        let aliased = rewrite("SELECT * FROM generate_series(1, 3) AS g");
        assert!(aliased.contains("AS g (g)"), "{aliased}");
        let named = "SELECT * FROM generate_series(1, 3) AS g(n)";
        assert!(!rewrite(named).contains("(g)"));
    }
}
