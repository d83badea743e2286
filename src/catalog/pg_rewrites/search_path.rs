//! Grafana's "is this schema on the search path" subquery
//! (`quote_ident(table_schema) IN (SELECT CASE WHEN trim(s[i]) = '"$user"'
//! … FROM generate_series(…) AS i, string_to_array(current_setting(
//! 'search_path'), ',') s)`), answered with the search path itself.
//! datafusion-pg-catalog replaces the subquery with `''`, which matches no
//! schema: Grafana would then list `public.t` for every table and find no
//! columns for a bare `t`.

use datafusion::sql::sqlparser::ast::{Expr, Query};

use super::string;
use crate::catalog::pg_functions;

/// `expr IN (the search-path subquery)` as `expr IN ('public', …)`, the
/// schemas of `path` (the session's setting; none: the server's).
pub(super) fn rewrite(expr: &Expr, path: Option<&str>) -> Option<Expr> {
    let Expr::InSubquery {
        expr: needle,
        subquery,
        negated,
    } = expr
    else {
        return None;
    };
    if !lists_the_search_path(subquery) {
        return None;
    }
    Some(Expr::InList {
        expr: needle.clone(),
        list: schemas(path).iter().map(|s| string(s)).collect(),
        negated: *negated,
    })
}

fn lists_the_search_path(query: &Query) -> bool {
    let text = query.to_string().to_ascii_lowercase();
    text.contains("current_setting('search_path')") && text.contains("string_to_array")
}

/// The schemas of `search_path` (`"$user"` is a schema of the user's name,
/// which Brook does not create).
pub(super) fn schemas(path: Option<&str>) -> Vec<String> {
    path.or_else(|| pg_functions::setting("search_path"))
        .unwrap_or("public")
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.starts_with('"'))
        .collect()
}
