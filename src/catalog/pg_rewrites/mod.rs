//! PostgreSQL spellings that DataFusion cannot run as written, rewritten into
//! equivalents it can, before planning (both protocols):
//!
//! - `to_regtype(name)` becomes `name::regtype`, which datafusion-pg-catalog
//!   turns into a `pg_type` lookup that is NULL for an unknown name (exactly
//!   to_regtype's contract). psycopg's `TypeInfo.fetch` sends it on connect.
//! - `x LIKE p ESCAPE '/'`: DataFusion takes only the backslash as escape
//!   character, so the pattern is translated into backslash escapes.
//!   SQLAlchemy's `get_schema_names()` escapes with `/`.
//! - `generate_subscripts(a, d)` becomes `unnest(generate_series(1,
//!   array_length(a, d)))`, which DataFusion zips with a sibling `unnest(a)`
//!   the way PostgreSQL zips set-returning functions in a select list.
//!   SQLAlchemy reads primary keys and indexes with that pair.
//!
//! - `information_schema._pg_expandarray(a)`, a set-returning function of
//!   records `(x, n)`, becomes `unnest(_pg_expandarray(a))` over
//!   [`crate::catalog::pg_functions`]' list of structs, and its `.n` an
//!   unnested series; pgJDBC's `getPrimaryKeys()` numbers key columns so.
//! - `(composite).field` becomes `get_field(composite, 'field')`, the
//!   struct access DataFusion plans (pgJDBC reads `(result.keys).x`).
//! - Unnamed select items get PostgreSQL's names ([`output_names`]):
//!   `count(*)` is `count`, `1 + 1` is `?column?`; repeated names
//!   (`SELECT NULL, NULL`, psqlODBC's probe; `SELECT a, a`) are kept apart
//!   by a mark the protocol edge takes off.
//! - `x::regclass::text`, `x::regtype::text`: the name, not the OID.
//! - `ARRAY(SELECT …)` ([`array_subquery`]).
//! - Grafana's search-path subquery ([`search_path`]).
//! - correlated scalar subqueries that return one row without aggregating
//!   ([`correlated`]): psql's `\d` and SQLAlchemy's `get_columns()` read
//!   column defaults with them.
//!
//! datafusion-pg-catalog's own rewrite rules have no extension point, so
//! Brook applies these to the text it hands on.

mod array_subquery;
mod correlated;
mod oid_aliases;
mod operator_syntax;
mod output_names;
mod result_types;
mod search_path;
mod set_returning;
mod system_columns;

pub use output_names::{REPEAT_MARK, client_name, repeated_column};
pub use result_types::plain_number;

use crate::catalog::pg_text_casts;
use crate::storage::text_types::TextType;

use std::borrow::Cow;
use std::ops::ControlFlow;
use std::sync::OnceLock;

use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;

use datafusion::sql::sqlparser::ast::{
    AccessExpr, BinaryOperator, CastKind, CharacterLength, DataType, Expr, Function, FunctionArg,
    FunctionArgExpr, FunctionArgumentList, FunctionArguments, Ident, LimitClause, ObjectName,
    Query, SelectItem, SetExpr, Statement, TableFactor, UnaryOperator, Value, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// Words whose presence means a statement may need a rewrite; every query
/// passes here, so the common case is one scan for them and no parse.
const TRIGGERS: &[&[u8]] = &[
    b"distinct from",
    b"varchar",
    b"uuid",
    b"json",
    b"character varying",
    b"search_path",
    b"pg_backend_pid",
    b"array(",
    b"regclass",
    b"regtype",
    b"null, null",
    b"null,null",
    b"array (",
    b"to_regtype",
    b"escape",
    b"generate_subscripts",
    b"_pg_expandarray",
    b").",
    b"tableoid",
    b"regproc",
    b"pg_options_to_table",
    b"\"char\"",
    b"name[",
    // `current_user` in a statement without a query (CREATE POLICY … FOR
    // INSERT) names the current role too.
    b"current_user",
    b"pg_policies",
    b"policy",
    b"regexp_split_to_table",
];

/// `pg_catalog` views Brook adds, found by their bare names too.
const BROOK_SYSTEM_VIEWS: &[&str] = &["pg_policies"];

/// Stands for an escaped escape character while the pattern is translated.
const HOLE: &str = "\u{1}";

/// `sql` with the rewrites applied; unchanged (and not re-printed) when it
/// needs none of them or does not parse.
pub fn rewrite(sql: &str) -> Cow<'_, str> {
    rewrite_for(sql, None, None)
}

/// [`rewrite`] in a session: `pg_backend_pid()` becomes the session's pid
/// (one DataFusion context serves every session, so a function cannot know
/// whose query it is in), and Grafana's search-path subquery lists the
/// session's `search_path` (none: the server's default).
pub fn rewrite_for<'s>(
    sql: &'s str,
    backend_pid: Option<i32>,
    search_path: Option<&str>,
) -> Cow<'s, str> {
    match operator_syntax::plain_operators(sql) {
        Cow::Borrowed(_) => rewrite_text(sql, backend_pid, search_path),
        Cow::Owned(plain) => {
            Cow::Owned(rewrite_text(&plain, backend_pid, search_path).into_owned())
        }
    }
}

fn rewrite_text<'s>(
    sql: &'s str,
    backend_pid: Option<i32>,
    search_path: Option<&str>,
) -> Cow<'s, str> {
    let bytes = sql.as_bytes();
    let mentions = |word: &[u8]| {
        bytes
            .windows(word.len())
            .any(|w| w.eq_ignore_ascii_case(word))
    };
    if !TRIGGERS.iter().any(|word| mentions(word))
        && !mentions(b"select")
        && !has_scalar_subquery(bytes)
        && !has_sign_chain(bytes)
    {
        return Cow::Borrowed(sql);
    }
    let Ok(parsed) = Parser::parse_sql(&PostgreSqlDialect {}, sql) else {
        return Cow::Borrowed(sql);
    };
    let mut statements = parsed.clone();
    if !apply(&mut statements, false, backend_pid, search_path) {
        return Cow::Borrowed(sql);
    }
    // A query datafusion-pg-catalog answers with a canned reply keeps its
    // exact tokens (a reworded one would miss the match), unless Brook has
    // the real answer for the part it replaces. Checked only for statements
    // that would change: it costs a second parse.
    if substituted_whole(sql, &parsed) {
        statements = parsed;
        if !apply(&mut statements, true, backend_pid, search_path) {
            return Cow::Borrowed(sql);
        }
    }
    Cow::Owned(
        statements
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// Apply the rewrites (only the search-path one if `only_search_path`);
/// whether anything changed.
fn apply(
    statements: &mut [Statement],
    only_search_path: bool,
    backend_pid: Option<i32>,
    search_path: Option<&str>,
) -> bool {
    let mut changed = false;
    for statement in statements {
        // Rows a client reads may repeat a column name. A view's or a
        // created table's columns may not: marked too, so that CREATE VIEW
        // and CREATE TABLE AS find a repeat and refuse it, as PostgreSQL
        // does (`output_names::repeated_column`).
        let repeats = match statement {
            Statement::Query(_)
            | Statement::Insert(_)
            | Statement::Copy { .. }
            | Statement::CreateView(_)
            | Statement::CreateTable(_) => output_names::Repeats::Marked,
            _ => output_names::Repeats::Suffixed,
        };
        let _ = statement.visit(&mut Rewrites {
            changed: &mut changed,
            only_search_path,
            backend_pid,
            search_path,
            queries: 0,
            repeats,
        });
    }
    changed
}

/// Whether datafusion-pg-catalog replaces (part of) `sql` with a canned
/// answer: it recognises a few client queries token for token (psql's `\d`
/// publication query, pgcli's key lookups), so Brook must not reword those.
/// Seen as its parse differing from its rules applied to a plain parse.
fn substituted_whole(sql: &str, plain: &[Statement]) -> bool {
    static COMPAT: OnceLock<PostgresCompatibilityParser> = OnceLock::new();
    let compat = COMPAT.get_or_init(PostgresCompatibilityParser::new);
    let Ok(theirs) = compat.parse(sql) else {
        return true;
    };
    let ruled: Vec<Statement> = plain.iter().cloned().map(|s| compat.rewrite(s)).collect();
    theirs != ruled
}

/// Whether `(` is followed (after whitespace) by `select` somewhere.
fn has_scalar_subquery(bytes: &[u8]) -> bool {
    bytes.iter().enumerate().any(|(i, b)| {
        *b == b'('
            && bytes[i + 1..]
                .iter()
                .position(|c| !c.is_ascii_whitespace())
                .and_then(|start| bytes.get(i + 1 + start..i + 1 + start + 6))
                .is_some_and(|word| word.eq_ignore_ascii_case(b"select"))
    })
}

/// Whether a `+` or `-` is followed, after blanks, by another: `- - 1`,
/// `1 - + 2`. Printed back from the syntax tree they touch (`--1` is a
/// comment, `-+` an operator in PostgreSQL's grammar) and the statement
/// would change meaning or fail when DataFusion reads the text again; see
/// [`parenthesize_signs`].
fn has_sign_chain(bytes: &[u8]) -> bool {
    bytes.iter().enumerate().any(|(i, b)| {
        matches!(b, b'+' | b'-')
            && bytes[i + 1..]
                .iter()
                .position(|c| !c.is_ascii_whitespace())
                .is_some_and(|gap| gap > 0 && matches!(bytes[i + 1 + gap], b'+' | b'-'))
    })
}

/// A sign operand of a sign in parentheses (`-(-1)`, `1 - (+2)`), so that
/// the statement's text, printed from the tree, reads back as the same tree.
fn parenthesize_signs(expr: &mut Expr) -> bool {
    let is_signed = |e: &Expr| {
        matches!(
            e,
            Expr::UnaryOp {
                op: UnaryOperator::Minus | UnaryOperator::Plus,
                ..
            }
        )
    };
    let operand = match expr {
        Expr::UnaryOp {
            op: UnaryOperator::Minus | UnaryOperator::Plus,
            expr: operand,
        } => operand,
        Expr::BinaryOp { right, .. } => right,
        _ => return false,
    };
    if !is_signed(operand) {
        return false;
    }
    let inner = std::mem::replace(operand.as_mut(), Expr::value(Value::Null));
    **operand = Expr::Nested(Box::new(inner));
    true
}

/// `FETCH FIRST n ROWS ONLY` (SQL's spelling, which PostgreSQL takes and
/// DataFusion 55 refuses) as `LIMIT n`; `FETCH FIRST ROW ONLY` is one row.
/// `WITH TIES` and `PERCENT` are left for DataFusion to refuse.
fn fetch_as_limit(query: &mut Query) -> bool {
    let Some(fetch) = &query.fetch else {
        return false;
    };
    let limited = matches!(
        query.limit_clause,
        Some(
            LimitClause::LimitOffset { limit: Some(_), .. } | LimitClause::OffsetCommaLimit { .. }
        )
    );
    if fetch.with_ties || fetch.percent || limited {
        return false;
    }
    let quantity = fetch.quantity.clone().unwrap_or_else(|| number("1"));
    query.fetch = None;
    match &mut query.limit_clause {
        Some(LimitClause::LimitOffset { limit, .. }) => *limit = Some(quantity),
        Some(LimitClause::OffsetCommaLimit { .. }) => {}
        None => {
            query.limit_clause = Some(LimitClause::LimitOffset {
                limit: Some(quantity),
                offset: None,
                limit_by: Vec::new(),
            });
        }
    }
    true
}

struct Rewrites<'a> {
    changed: &'a mut bool,
    /// Only the search-path rewrite (the query is otherwise canned).
    only_search_path: bool,
    backend_pid: Option<i32>,
    /// The session's `search_path` setting, if it set one.
    search_path: Option<&'a str>,
    /// How many queries the visitor is inside: constants are typed only
    /// in queries ([`result_types`]), not in a column's DEFAULT.
    queries: usize,
    /// How select items named alike are kept apart ([`output_names`]).
    repeats: output_names::Repeats,
}

impl VisitorMut for Rewrites<'_> {
    type Break = ();

    /// Before the items' expressions are rewritten, which would change the
    /// names PostgreSQL gives them.
    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if !self.only_search_path && output_names::name_items(query, self.repeats) {
            *self.changed = true;
        }
        if !self.only_search_path && set_returning::rows_in_items(query) {
            *self.changed = true;
        }
        if !self.only_search_path && fetch_as_limit(query) {
            *self.changed = true;
        }
        if !self.only_search_path {
            result_types::enter_query(query);
            self.queries += 1;
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if !self.only_search_path {
            result_types::leave_query(query);
            self.queries -= 1;
        }
        if !self.only_search_path
            && let SetExpr::Select(select) = query.body.as_mut()
        {
            if shield_subquery_items(&mut select.projection) {
                *self.changed = true;
            }
            if system_columns::rewrite_select(select) {
                *self.changed = true;
            }
            if system_columns::skip_subqueries_over_empty(select) {
                *self.changed = true;
            }
            if system_columns::vectors_as_text(select) {
                *self.changed = true;
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if !self.only_search_path && set_returning::name_column(factor) {
            *self.changed = true;
        }
        // Brook's own `pg_catalog` views, which datafusion-pg-catalog does
        // not know to look up there.
        if let TableFactor::Table { name, .. } = factor
            && let [part] = name.0.as_slice()
            && let Some(ident) = part.as_ident()
            && ident.quote_style.is_none()
            && BROOK_SYSTEM_VIEWS.contains(&ident.value.to_ascii_lowercase().as_str())
        {
            let ident = ident.clone();
            name.0 = vec![
                datafusion::sql::sqlparser::ast::ObjectNamePart::Identifier(Ident::new(
                    "pg_catalog",
                )),
                datafusion::sql::sqlparser::ast::ObjectNamePart::Identifier(ident),
            ];
            *self.changed = true;
        }
        ControlFlow::Continue(())
    }

    fn post_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if !self.only_search_path {
            result_types::leave_table_factor(factor);
        }
        ControlFlow::Continue(())
    }

    /// `(_pg_expandarray(a)).n` and `.x` before the call inside is rewritten.
    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if !self.only_search_path
            && let Some(replacement) = distinct_from_precedence(expr)
        {
            *expr = replacement;
            *self.changed = true;
        }
        if let Some(replacement) = search_path::rewrite(expr, self.search_path) {
            *expr = replacement;
            *self.changed = true;
            return ControlFlow::Continue(());
        }
        if self.only_search_path {
            return ControlFlow::Continue(());
        }
        // `current_role`, a function in PostgreSQL's grammar that sqlparser
        // reads as a column.
        if let Expr::Identifier(ident) = expr
            && is_current_role(ident)
        {
            *expr = call("current_role", vec![]);
            *self.changed = true;
        }
        // `current_user` and `user` name the current role (SET ROLE's);
        // the rewrite after Brook's would make them `session_user`, the
        // login's.
        if is_current_user_keyword(expr) {
            *expr = call("current_role", vec![]);
            *self.changed = true;
        }
        // Before the `::regclass` inside becomes a lookup of its OID.
        if let Some(replacement) = oid_alias_text(expr) {
            *expr = replacement;
            *self.changed = true;
        }
        if let Some(replacement) = system_columns::name_subscript(expr) {
            *expr = replacement;
            *self.changed = true;
        }
        if let Expr::CompoundFieldAccess { root, access_chain } = expr
            && let [AccessExpr::Dot(Expr::Identifier(key))] = access_chain.as_slice()
        {
            let mut function = root.as_ref();
            while let Expr::Nested(e) = function {
                function = e;
            }
            let field = key.value.to_ascii_lowercase();
            let replacement = match (expanded_array(function), field.as_str()) {
                (Some(array), "n") => subscripts(array, number("1")),
                (Some(array), "x") => call("unnest", vec![array]),
                _ => call("get_field", vec![function.clone(), string(&key.value)]),
            };
            *expr = replacement;
            *self.changed = true;
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        // Also for canned queries: any statement printed must read back.
        if parenthesize_signs(expr) {
            *self.changed = true;
        }
        if self.only_search_path {
            return ControlFlow::Continue(());
        }
        if result_types::plain_constant(expr) {
            *self.changed = true;
            return ControlFlow::Continue(());
        }
        if self.queries > 0 && result_types::type_constant(expr) {
            *self.changed = true;
            return ControlFlow::Continue(());
        }
        result_types::leave_interval(expr);
        if result_types::type_rank(expr) {
            *self.changed = true;
            return ControlFlow::Continue(());
        }
        let replacement = match expr {
            // int4, as in PostgreSQL.
            Expr::Function(f) if is_backend_pid(f) => self
                .backend_pid
                .map(|pid| cast(number(&pid.to_string()), DataType::Integer(None))),
            Expr::Function(f) => rewrite_function(f).or_else(|| array_subquery::rewrite(expr)),
            Expr::Subquery(_) => correlated::rewrite(expr),
            // `~x`, bitwise NOT, which DataFusion cannot plan: `x # -1`
            // (exclusive or with every bit set), the same integer.
            Expr::UnaryOp {
                op: UnaryOperator::BitwiseNot,
                expr: operand,
            } => Some(Expr::BinaryOp {
                left: Box::new(Expr::Nested(operand.clone())),
                op: BinaryOperator::PGBitwiseXor,
                right: Box::new(Expr::Nested(Box::new(Expr::UnaryOp {
                    op: UnaryOperator::Minus,
                    expr: Box::new(number("1")),
                }))),
            }),
            Expr::Cast { .. } => oid_aliases::rewrite(expr, self.search_path)
                .or_else(|| single_char_cast(expr))
                .or_else(|| text_type_cast(expr)),
            Expr::TypedString(_) => text_type_cast(expr),
            Expr::Like {
                pattern,
                escape_char,
                ..
            }
            | Expr::ILike {
                pattern,
                escape_char,
                ..
            } => {
                if let Some(escape) = escape_char.take() {
                    match backslash_pattern(pattern, &escape.value) {
                        Some(translated) => {
                            **pattern = translated;
                            *self.changed = true;
                        }
                        None => *escape_char = Some(escape),
                    }
                }
                None
            }
            _ => None,
        };
        if let Some(replacement) = replacement {
            *expr = replacement;
            *self.changed = true;
        }
        ControlFlow::Continue(())
    }
}

/// The name PostgreSQL gives a scalar subquery's column: that of the
/// subquery's one item (`count` for `(SELECT count(*) …)`).
fn subquery_item_name(query: &Query) -> String {
    let SetExpr::Select(select) = query.body.as_ref() else {
        return "?column?".to_string();
    };
    match select.projection.as_slice() {
        [SelectItem::ExprWithAlias { alias, .. }] => alias.value.clone(),
        [SelectItem::UnnamedExpr(e)] => match e {
            Expr::Identifier(i) => i.value.to_lowercase(),
            Expr::CompoundIdentifier(parts) => parts
                .last()
                .map_or("?column?".to_string(), |i| i.value.to_lowercase()),
            Expr::Function(f) => f
                .name
                .0
                .last()
                .map_or("?column?".to_string(), |n| n.to_string().to_lowercase()),
            _ => "?column?".to_string(),
        },
        _ => "?column?".to_string(),
    }
}

/// Select items that are a bare scalar subquery, put in parentheses (and
/// named as PostgreSQL names them). datafusion-pg-catalog 0.19's
/// `RemoveSubqueryFromProjection` rule replaces a bare one that looks
/// correlated with NULL and adds `LIMIT 1` to the others — silently wrong
/// answers (`(SELECT count(*) FROM t2 WHERE t2.x > t1.a)` was NULL on every
/// row, docs/compatibility.md); in parentheses the rule leaves it to
/// DataFusion, which answers or refuses. A name already used in the list
/// gets a suffix (DataFusion refuses duplicate names).
fn shield_subquery_items(items: &mut [SelectItem]) -> bool {
    let mut used: Vec<String> = items
        .iter()
        .filter_map(|i| match i {
            SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
            SelectItem::UnnamedExpr(Expr::Identifier(id)) => Some(id.value.to_lowercase()),
            _ => None,
        })
        .collect();
    let mut changed = false;
    for item in items.iter_mut() {
        let (query, alias) = match item {
            SelectItem::UnnamedExpr(Expr::Subquery(q)) => (q.clone(), None),
            SelectItem::ExprWithAlias {
                expr: Expr::Subquery(q),
                alias,
            } => (q.clone(), Some(alias.clone())),
            _ => continue,
        };
        let alias = alias.unwrap_or_else(|| {
            let base = subquery_item_name(&query);
            let mut name = base.clone();
            let mut n = 0;
            while used.contains(&name) {
                n += 1;
                name = format!("{base}_{n}");
            }
            used.push(name.clone());
            Ident::with_quote('"', name)
        });
        *item = SelectItem::ExprWithAlias {
            expr: Expr::Nested(Box::new(Expr::Subquery(query))),
            alias,
        };
        changed = true;
    }
    changed
}

/// `p IS [NOT] DISTINCT FROM q AND r` as PostgreSQL reads it,
/// `(p IS DISTINCT FROM q) AND r`: sqlparser 0.62 parses the right side of
/// IS DISTINCT FROM as a whole expression, swallowing the `AND r` (and so
/// dropping a condition). `IS` binds tighter than AND and OR in PostgreSQL,
/// looser than comparisons; a parenthesised right side is left alone.
fn distinct_from_precedence(expr: &Expr) -> Option<Expr> {
    let (left, right, negated) = match expr {
        Expr::IsDistinctFrom(l, r) => (l, r, false),
        Expr::IsNotDistinctFrom(l, r) => (l, r, true),
        _ => return None,
    };
    let Expr::BinaryOp {
        left: inner,
        op: op @ (BinaryOperator::And | BinaryOperator::Or),
        right: rest,
    } = right.as_ref()
    else {
        return None;
    };
    let head = if negated {
        Expr::IsNotDistinctFrom(left.clone(), inner.clone())
    } else {
        Expr::IsDistinctFrom(left.clone(), inner.clone())
    };
    let head = distinct_from_precedence(&head).unwrap_or(head);
    // Parenthesised, so that the text re-parses as meant.
    let head = match head {
        nested @ Expr::BinaryOp { .. } => nested,
        other => Expr::Nested(Box::new(other)),
    };
    Some(Expr::BinaryOp {
        left: Box::new(head),
        op: op.clone(),
        right: rest.clone(),
    })
}

/// The column `expr` names, if it is a column reference (`c`, `t.c`).
pub(super) fn column_of(expr: &Expr) -> Option<&Ident> {
    match expr {
        Expr::Identifier(ident) => Some(ident),
        Expr::CompoundIdentifier(parts) => parts.last(),
        _ => None,
    }
}

/// The keywords `current_user` and `user` as sqlparser reads them: a call
/// without parentheses.
fn is_current_user_keyword(expr: &Expr) -> bool {
    let Expr::Function(f) = expr else {
        return false;
    };
    matches!(
        f.args,
        datafusion::sql::sqlparser::ast::FunctionArguments::None
    ) && matches!(f.name.0.as_slice(), [part] if part.as_ident().is_some_and(|i| {
        i.quote_style.is_none()
            && (i.value.eq_ignore_ascii_case("current_user") || i.value.eq_ignore_ascii_case("user"))
    }))
}

/// The bare keyword `current_role` (quoted, it names a column).
pub(super) fn is_current_role(ident: &Ident) -> bool {
    ident.quote_style.is_none() && ident.value.eq_ignore_ascii_case("current_role")
}

fn is_backend_pid(f: &Function) -> bool {
    f.name
        .0
        .last()
        .is_some_and(|n| n.to_string().eq_ignore_ascii_case("pg_backend_pid"))
}

fn rewrite_function(f: &Function) -> Option<Expr> {
    let name = f.name.to_string().to_ascii_lowercase();
    let name = name.strip_prefix("pg_catalog.").unwrap_or(&name);
    let name = name.strip_prefix("information_schema.").unwrap_or(name);
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    let args: Vec<&Expr> = list
        .args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
            _ => None,
        })
        .collect::<Option<_>>()?;
    match (name, args.as_slice()) {
        ("to_regtype", [arg]) => Some(Expr::Cast {
            kind: CastKind::DoubleColon,
            expr: Box::new((*arg).clone()),
            data_type: DataType::Custom(ObjectName::from(vec![Ident::new("regtype")]), vec![]),
            array: false,
            format: None,
        }),
        ("generate_subscripts", [array, dim]) => Some(subscripts((*array).clone(), (*dim).clone())),
        ("_pg_expandarray", [array]) => Some(call(
            "unnest",
            vec![call("_pg_expandarray", vec![(*array).clone()])],
        )),
        // The set-returning form of the split: one row per piece.
        ("regexp_split_to_table", [_, _] | [_, _, _]) => Some(call(
            "unnest",
            vec![call(
                "regexp_split_to_array",
                args.iter().map(|a| (*a).clone()).collect(),
            )],
        )),
        _ => None,
    }
}

/// `x::regclass::text` and `x::regtype::text`: the name, as PostgreSQL
/// prints those types (datafusion-pg-catalog resolves the cast to the OID,
/// whose text would be its digits).
fn oid_alias_text(expr: &Expr) -> Option<Expr> {
    let Expr::Cast {
        expr: inner,
        data_type,
        ..
    } = expr
    else {
        return None;
    };
    let to_text = matches!(
        data_type,
        DataType::Text | DataType::Varchar(_) | DataType::String(_)
    ) || matches!(data_type, DataType::Custom(name, _) if name.0.last().is_some_and(|n| n.to_string().eq_ignore_ascii_case("text")));
    let Expr::Cast {
        data_type: alias, ..
    } = inner.as_ref()
    else {
        return None;
    };
    if !to_text {
        return None;
    }
    let alias = match alias {
        DataType::Regclass => "regclass".to_string(),
        DataType::Custom(name, _) => name.0.last()?.to_string().to_ascii_lowercase(),
        _ => return None,
    };
    match alias.as_str() {
        "regclass" => Some(call(
            crate::catalog::pg_overlay::REGCLASS_TEXT,
            vec![(**inner).clone()],
        )),
        "regtype" => Some(call(
            "format_type",
            vec![(**inner).clone(), Expr::value(Value::Null)],
        )),
        _ => None,
    }
}

/// `x::"char"`, PostgreSQL's one-byte type of catalog codes (`relkind`),
/// which Brook's catalog holds as text: the first character of `x` as
/// text (pg_dump writes `'r'::"char"`; `'abc'::"char"` is `a`).
fn single_char_cast(expr: &Expr) -> Option<Expr> {
    let Expr::Cast {
        kind,
        expr: inner,
        data_type: DataType::Custom(name, modifiers),
        array,
        format,
    } = expr
    else {
        return None;
    };
    let [part] = name.0.as_slice() else {
        return None;
    };
    let quoted_char = part
        .as_ident()
        .is_some_and(|i| i.quote_style == Some('"') && i.value == "char");
    let as_text = Expr::Cast {
        kind: kind.clone(),
        expr: inner.clone(),
        data_type: DataType::Text,
        array: *array,
        format: format.clone(),
    };
    (quoted_char && modifiers.is_empty()).then(|| call("left", vec![as_text, number("1")]))
}

/// `unnest(generate_series(1, array_length(array, dim)))`: the subscripts
/// of an array as rows, beside a sibling `unnest(array)`.
fn subscripts(array: Expr, dim: Expr) -> Expr {
    let length = call("array_length", vec![array, dim]);
    call(
        "unnest",
        vec![call("generate_series", vec![number("1"), length])],
    )
}

/// The array argument of `[information_schema.]_pg_expandarray(array)`.
fn expanded_array(expr: &Expr) -> Option<Expr> {
    let Expr::Function(f) = expr else {
        return None;
    };
    let name = f.name.0.last()?.to_string().to_ascii_lowercase();
    if name != "_pg_expandarray" {
        return None;
    }
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    match list.args.as_slice() {
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(array))] => Some(array.clone()),
        _ => None,
    }
}

/// The pattern rewritten from escape character `escape` to backslash escapes:
/// literal backslashes doubled, the escape character doubled kept as itself,
/// the escape character alone turned into a backslash. `None` when the escape
/// is already the backslash (or is not a one-character string).
fn backslash_pattern(pattern: &Expr, escape: &Value) -> Option<Expr> {
    let escape = match escape {
        Value::SingleQuotedString(s) | Value::EscapedStringLiteral(s) => s.as_str(),
        _ => return None,
    };
    let doubled_backslash = replace(pattern.clone(), "\\", "\\\\");
    match escape.chars().count() {
        // ESCAPE '' turns escaping off: every backslash is literal.
        0 => Some(doubled_backslash),
        1 if escape != "\\" => {
            let held = replace(doubled_backslash, &escape.repeat(2), HOLE);
            let escaped = replace(held, escape, "\\");
            Some(replace(escaped, HOLE, escape))
        }
        _ => None,
    }
}

fn replace(text: Expr, from: &str, to: &str) -> Expr {
    call("replace", vec![text, string(from), string(to)])
}

pub(super) fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e)))
                .collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

pub(super) fn string(s: &str) -> Expr {
    Expr::value(Value::SingleQuotedString(s.to_string()))
}

/// A cast to a type Brook keeps as text ([`TextType`]): the function of
/// [`crate::catalog::pg_text_casts`] over the text, which checks and
/// normalises the value and names the type. `CAST(x AS varchar(n))` cuts
/// to `n` characters, as PostgreSQL's explicit casts do (never failing on
/// length). A typed literal (`uuid '…'`, `jsonb '…'`) is the same cast.
fn text_type_cast(expr: &Expr) -> Option<Expr> {
    let (inner, data_type, kind) = match expr {
        Expr::Cast {
            kind,
            expr,
            data_type,
            array: false,
            format: None,
        } => (expr.as_ref().clone(), data_type, kind.clone()),
        Expr::TypedString(typed) => (
            Expr::Value(typed.value.clone()),
            &typed.data_type,
            CastKind::Cast,
        ),
        _ => return None,
    };
    let (text_type, length) = match data_type {
        DataType::Varchar(length) | DataType::CharacterVarying(length) => {
            let length = match length {
                Some(CharacterLength::IntegerLength { length, .. }) => Some(*length),
                Some(CharacterLength::Max) => return None,
                None => None,
            };
            (TextType::Varchar, length)
        }
        DataType::Uuid => (TextType::Uuid, None),
        DataType::JSON => (TextType::Json, None),
        DataType::JSONB => (TextType::Jsonb, None),
        _ => return None,
    };
    let text = Expr::Cast {
        kind,
        expr: Box::new(inner),
        data_type: DataType::Text,
        array: false,
        format: None,
    };
    let mut args = vec![text];
    args.extend(length.map(|n| number(&n.to_string())));
    Some(call(pg_text_casts::function_name(text_type), args))
}

pub(super) fn number(n: &str) -> Expr {
    Expr::value(Value::Number(n.to_string(), false))
}

/// `CAST(expr AS data_type)`.
pub(super) fn cast(expr: Expr, data_type: DataType) -> Expr {
    Expr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(expr),
        data_type,
        array: false,
        format: None,
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
            "SELECT 'int4'::regtype AS \"to_regtype\""
        );
        let untouched = "SELECT 'to_regtype' AS name";
        assert!(matches!(rewrite(untouched), Cow::Borrowed(_)));
        assert!(matches!(rewrite("SELECT 'a' AS one"), Cow::Borrowed(_)));
    }

    #[test]
    fn like_escape_becomes_backslash_escapes() {
        let out = rewrite("SELECT 1 WHERE 'a' NOT LIKE 'pg/_' || '%' ESCAPE '/'");
        assert!(!out.contains("ESCAPE"), "{out}");
        assert!(out.contains("replace("), "{out}");
        let backslash = "SELECT 'b' AS one WHERE 'a' LIKE 'a\\_' ESCAPE '\\'";
        assert!(matches!(rewrite(backslash), Cow::Borrowed(_)));
    }

    #[test]
    fn correlated_scalar_subqueries_are_aggregated() {
        assert_eq!(
            rewrite(
                "SELECT a.attname, (SELECT d.adbin FROM pg_attrdef d WHERE d.adrelid = a.attrelid) FROM pg_attribute a"
            ),
            "SELECT a.attname, ((SELECT first_value(d.adbin) FROM pg_attrdef d WHERE d.adrelid = a.attrelid)) AS \"adbin\" FROM pg_attribute a"
        );
        assert_eq!(
            rewrite(
                "SELECT (SELECT d.adbin FROM pg_attrdef d WHERE d.adrelid = a.attrelid AND a.atthasdef) FROM pg_attribute a"
            ),
            "SELECT CASE WHEN a.atthasdef THEN ((SELECT first_value(d.adbin) FROM pg_attrdef d WHERE d.adrelid = a.attrelid)) END AS \"adbin\" FROM pg_attribute a"
        );
        assert_eq!(
            rewrite("SELECT (SELECT max(x) FROM t WHERE t.k = o.k) FROM o"),
            "SELECT ((SELECT max(x) AS \"max\" FROM t WHERE t.k = o.k)) AS \"max\" FROM o"
        );
        assert_eq!(
            rewrite(
                "SELECT (SELECT o.x FROM pg_catalog.pg_sequence s WHERE s.seqrelid = o.k) FROM o"
            ),
            "SELECT NULL AS \"x\" FROM o"
        );
        assert_eq!(
            rewrite(
                "SELECT (SELECT $2::VARCHAR FROM pg_sequence s WHERE s.seqrelid = o.k AND s.x = $3) FROM o WHERE o.a = $1"
            ),
            // The parameter's `varchar` cast was already made a text one (the
            // subquery's expressions are rewritten first).
            "SELECT CASE WHEN $2::TEXT IS NULL AND $3 IS NULL THEN NULL END AS \"varchar\" FROM o WHERE o.a = $1"
        );
        // Other select-list subqueries are only shielded (parenthesised and
        // named), so that datafusion-pg-catalog leaves them to DataFusion.
        for (shielded, expected) in [
            (
                "SELECT (SELECT x FROM t WHERE t.k <> o.k) FROM o",
                "SELECT ((SELECT x FROM t WHERE t.k <> o.k)) AS \"x\" FROM o",
            ),
            (
                "SELECT (SELECT x FROM t) FROM o",
                "SELECT ((SELECT x FROM t)) AS \"x\" FROM o",
            ),
            (
                "SELECT (SELECT x FROM t WHERE t.k = o.k ORDER BY x LIMIT 1) FROM o",
                "SELECT ((SELECT x FROM t WHERE t.k = o.k ORDER BY x LIMIT 1)) AS \"x\" FROM o",
            ),
        ] {
            assert_eq!(rewrite(shielded), expected);
        }
        let untouched = "SELECT x FROM t WHERE k IN (SELECT k FROM u)";
        assert!(
            matches!(rewrite(untouched), Cow::Borrowed(_)),
            "{untouched}"
        );
    }

    #[test]
    fn queries_answered_by_datafusion_pg_catalog_are_left_alone() {
        // psql 15's `\d` publication query, which datafusion-pg-catalog
        // recognises token for token.
        let psql = "SELECT pubname
     , NULL
     , NULL
FROM pg_catalog.pg_publication p
     JOIN pg_catalog.pg_publication_namespace pn ON p.oid = pn.pnpubid
     JOIN pg_catalog.pg_class pc ON pc.relnamespace = pn.pnnspid
WHERE pc.oid ='16386' and pg_catalog.pg_relation_is_publishable('16386')
UNION
SELECT pubname
     , pg_get_expr(pr.prqual, c.oid)
     , (CASE WHEN pr.prattrs IS NOT NULL THEN
         (SELECT string_agg(attname, ', ')
           FROM pg_catalog.generate_series(0, pg_catalog.array_upper(pr.prattrs::pg_catalog.int2[], 1)) s,
                pg_catalog.pg_attribute
          WHERE attrelid = pr.prrelid AND attnum = prattrs[s])
        ELSE NULL END) FROM pg_catalog.pg_publication p
     JOIN pg_catalog.pg_publication_rel pr ON p.oid = pr.prpubid
     JOIN pg_catalog.pg_class c ON c.oid = pr.prrelid
WHERE pr.prrelid = '16386'
UNION
SELECT pubname
     , NULL
     , NULL
FROM pg_catalog.pg_publication p
WHERE p.puballtables AND pg_catalog.pg_relation_is_publishable('16386')
ORDER BY 1;";
        assert!(matches!(rewrite(psql), Cow::Borrowed(_)));
    }

    #[test]
    fn pg_expandarray_becomes_unnests() {
        assert_eq!(
            rewrite(
                "SELECT (information_schema._pg_expandarray(i.indkey)).n AS k, information_schema._pg_expandarray(i.indkey) AS keys FROM pg_index i"
            ),
            "SELECT unnest(generate_series(CAST(1 AS INT4), array_length(i.indkey, CAST(1 AS INT4)))) AS k, unnest(_pg_expandarray(i.indkey)) AS keys FROM pg_index i"
        );
    }

    #[test]
    fn composite_field_access_becomes_get_field() {
        assert_eq!(
            rewrite("SELECT (r.keys).x FROM r WHERE (r.keys).n = 1"),
            "SELECT get_field(r.keys, 'x') AS \"x\" FROM r WHERE get_field(r.keys, 'n') = CAST(1 AS INT4)"
        );
    }

    #[test]
    fn grafanas_search_path_subquery_becomes_the_search_path() {
        let grafana = "SELECT CASE WHEN quote_ident(table_schema) IN (SELECT CASE WHEN trim(s[i]) = '\"$user\"' THEN user ELSE trim(s[i]) END FROM generate_series(array_lower(string_to_array(current_setting('search_path'),','),1), array_upper(string_to_array(current_setting('search_path'),','),1)) as i, string_to_array(current_setting('search_path'),',') s) THEN quote_ident(table_name) ELSE quote_ident(table_schema) || '.' || quote_ident(table_name) END AS \"table\" FROM information_schema.tables";
        assert_eq!(
            rewrite(grafana),
            "SELECT CASE WHEN quote_ident(table_schema) IN ('public') THEN quote_ident(table_name) ELSE quote_ident(table_schema) || '.' || quote_ident(table_name) END AS \"table\" FROM information_schema.tables"
        );
        // A session that SET its path gets its own schemas.
        assert_eq!(
            rewrite_for(grafana, None, Some("sales, public")),
            "SELECT CASE WHEN quote_ident(table_schema) IN ('sales', 'public') THEN quote_ident(table_name) ELSE quote_ident(table_schema) || '.' || quote_ident(table_name) END AS \"table\" FROM information_schema.tables"
        );
    }

    #[test]
    fn pg_backend_pid_is_the_sessions_pid() {
        assert_eq!(
            rewrite_for("SELECT pg_backend_pid()", Some(4242), None),
            "SELECT CAST(4242 AS INTEGER) AS \"pg_backend_pid\""
        );
        assert!(matches!(
            rewrite("SELECT pg_backend_pid() AS pid"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn casts_to_varchar_n_cut_the_text() {
        assert_eq!(
            rewrite("SELECT CAST(s AS VARCHAR(2)), s::varchar(3) FROM t"),
            "SELECT brook_varchar(CAST(s AS TEXT), 2) AS \"s\", brook_varchar(s::TEXT, 3) AS \"s\u{E000}1\" FROM t"
        );
    }

    #[test]
    fn chains_of_signs_read_back_as_written() {
        assert_eq!(
            rewrite("SELECT - + 11"),
            "SELECT -(+CAST(11 AS INT4)) AS \"?column?\""
        );
        assert_eq!(
            rewrite("SELECT - - 1, 2"),
            "SELECT -(-CAST(1 AS INT4)) AS \"?column?\", CAST(2 AS INT4) AS \"?column?\u{E000}1\""
        );
        assert_eq!(
            rewrite("SELECT 1.5 - + 11.5 AS n"),
            "SELECT 1.5 - (+11.5) AS n"
        );
        assert!(matches!(
            rewrite("SELECT 1.5 - 2.5 AS a, -3.5 AS b"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn is_distinct_from_binds_tighter_than_and_and_or() {
        assert_eq!(
            rewrite("SELECT a FROM t WHERE p IS DISTINCT FROM false AND q OR r"),
            "SELECT a FROM t WHERE (p IS DISTINCT FROM false) AND q OR r"
        );
        assert_eq!(
            rewrite("SELECT a FROM t WHERE p IS NOT DISTINCT FROM 1 OR q"),
            "SELECT a FROM t WHERE (p IS NOT DISTINCT FROM CAST(1 AS INT4)) OR q"
        );
        assert!(matches!(
            rewrite("SELECT a FROM t WHERE p IS DISTINCT FROM (false AND q)"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn array_subqueries_become_aggregates() {
        assert_eq!(
            rewrite("SELECT array(SELECT x FROM t WHERE x > 1)"),
            "SELECT ((SELECT array_agg(x) FROM t WHERE x > CAST(1 AS INT4))) AS \"array\""
        );
        let psql = "SELECT pg_catalog.array_to_string(c.reloptions || array(select 'toast.' || x from pg_catalog.unnest(tc.reloptions) x), ', ') FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_class tc ON (c.reltoastrelid = tc.oid)";
        assert!(
            rewrite(psql).contains("c.reloptions || NULL::TEXT[]"),
            "{}",
            rewrite(psql)
        );
    }

    #[test]
    fn regclass_and_regtype_text_are_names() {
        assert_eq!(
            rewrite("select c.oid::regclass::text, 'int4'::regtype::text from pg_class c"),
            "SELECT brook_regclass_text(c.oid::REGCLASS) AS \"oid\", format_type('int4'::regtype, NULL) AS \"text\" FROM pg_class c"
        );
    }

    const REGCLASS_FOUND_NAME: &str = crate::catalog::pg_overlay::REGCLASS_FOUND;

    #[test]
    fn computed_regclass_is_looked_up_at_run_time() {
        assert_eq!(
            rewrite("SELECT CAST(CAST(format('%I.%I', s, t) AS REGCLASS) AS OID) FROM x"),
            "SELECT CAST(brook_regclass(format('%I.%I', s, t)) AS OID) AS \"oid\" FROM x"
        );
        let constant = rewrite("SELECT 'orders'::regclass");
        assert!(constant.contains(REGCLASS_FOUND_NAME), "{constant}");
        assert!(constant.contains("AS \"regclass\""), "{constant}");
    }

    #[test]
    fn fetch_first_is_a_limit() {
        assert_eq!(
            rewrite("SELECT a FROM t ORDER BY a FETCH FIRST 3 ROWS ONLY"),
            "SELECT a FROM t ORDER BY a LIMIT 3"
        );
        assert_eq!(
            rewrite("SELECT a FROM t OFFSET 2 ROWS FETCH NEXT ROW ONLY"),
            "SELECT a FROM t LIMIT 1 OFFSET 2 ROWS"
        );
    }

    #[test]
    fn repeated_unnamed_items_get_names() {
        // Marked in a query (the client reads `?column?` three times)…
        assert_eq!(
            rewrite("select NULL, NULL, NULL"),
            "SELECT NULL AS \"?column?\", NULL AS \"?column?\u{E000}1\", NULL AS \"?column?\u{E000}2\""
        );
        // …and in a view, which CREATE VIEW then refuses (42701), as
        // PostgreSQL does: a view's columns need names of their own.
        assert_eq!(
            rewrite("CREATE VIEW v AS SELECT NULL, NULL"),
            "CREATE VIEW v AS SELECT NULL AS \"?column?\", NULL AS \"?column?\u{E000}1\""
        );
    }

    #[test]
    fn generate_subscripts_becomes_an_unnested_series() {
        assert_eq!(
            rewrite("SELECT unnest(k), generate_subscripts(k, 1) FROM t"),
            "SELECT unnest(k) AS \"unnest\", unnest(generate_series(1, array_length(k, CAST(1 AS INT4)))) AS \"generate_subscripts\" FROM t"
        );
    }
}
