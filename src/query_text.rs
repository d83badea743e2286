//! The front door for SQL text that Brook runs on a user's behalf: the query
//! argument of `EVALUATE`/`CONFUSION_MATRIX`/`PREDICT`-style table functions,
//! a model's source query, a cursor's or `COPY (query) TO STDOUT`'s query.
//!
//! Such text was written by a user, so it is held to what the place expects:
//! exactly one statement, and that a query. DataFusion would otherwise run
//! whatever it is given — `COPY … TO '/any/file'`, `CREATE EXTERNAL TABLE …
//! LOCATION '/etc/…'`, `DROP TABLE` — past every check the wire path makes.
//! The plan is verified as well (no DDL, no DML, no statements), so that a
//! construct the parser lets through inside a query is caught too.

use datafusion::error::{DataFusionError, Result};
use datafusion::execution::context::{SQLOptions, SessionState};
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::{DFParserBuilder, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::Statement;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;

/// A text that is not the one query its place asks for: a permission error
/// (42501), as the text asked for more than reading.
fn not_a_query(why: String) -> DataFusionError {
    crate::error::external(crate::error::BrookError::NotAllowed(why))
}

/// Options that refuse everything but reading.
fn read_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// Why `sql` is not one query, or `None` when it is.
fn refusal(sql: &str, what: &str) -> Result<Option<String>> {
    let dialect = PostgreSqlDialect {};
    let mut parser = DFParserBuilder::new(sql).with_dialect(&dialect).build()?;
    let statements = parser.parse_statements()?;
    Ok(match statements.len() {
        0 => Some(format!("{what} is empty; it must be one SELECT query")),
        1 => match statements.front() {
            Some(DfStatement::Statement(s)) if matches!(**s, Statement::Query(_)) => None,
            _ => Some(format!(
                "{what} must be a SELECT query, not another kind of statement"
            )),
        },
        n => Some(format!(
            "{what} must be one SELECT query, not {n} statements"
        )),
    })
}

/// Plan `sql`, which must be exactly one query (see the module doc). The
/// error for anything else is a permission error (SQLSTATE 42501 at the
/// edge): the text asked for more than reading.
pub async fn plan_query(state: &SessionState, sql: &str, what: &str) -> Result<LogicalPlan> {
    if let Some(why) = refusal(sql, what)? {
        return Err(not_a_query(why));
    }
    let plan = state.create_logical_plan(sql).await?;
    read_only()
        .verify_plan(&plan)
        .map_err(|e| not_a_query(format!("{what} may only read: {}", e.strip_backtrace())))?;
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    async fn refused(sql: &str) -> String {
        let ctx = SessionContext::new();
        match plan_query(&ctx.state(), sql, "the query").await {
            Ok(_) => panic!("{sql} was accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[tokio::test]
    async fn only_one_query_passes() {
        let ctx = SessionContext::new();
        plan_query(&ctx.state(), "SELECT 1 AS x", "the query")
            .await
            .unwrap();
        assert!(
            refused("COPY (SELECT 1) TO '/tmp/x.csv'")
                .await
                .contains("SELECT query")
        );
        assert!(
            refused("CREATE EXTERNAL TABLE e STORED AS CSV LOCATION '/etc/passwd'")
                .await
                .contains("SELECT query")
        );
        assert!(
            refused("SELECT 1; DROP TABLE t")
                .await
                .contains("2 statements")
        );
        assert!(refused("DROP TABLE t").await.contains("SELECT query"));
        assert!(refused("").await.contains("empty"));
        assert!(
            refused("SET datafusion.execution.batch_size = 1")
                .await
                .contains("SELECT query")
        );
    }
}
