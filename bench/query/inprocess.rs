//! The engine's ceiling for bench/query: DataFusion in process on in-memory
//! tables, the same setup.sql and queries.sql as Brook and PostgreSQL.
//! Usage: query_inprocess ROWS REPEAT — prints one median milliseconds per query.

use std::time::Instant;

use datafusion::prelude::SessionContext;

const SETUP: &str = include_str!("setup.sql");
const QUERIES: &str = include_str!("queries.sql");

fn strip_comments(sql: &str) -> String {
    sql.lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::main]
async fn main() -> datafusion::error::Result<()> {
    let mut args = std::env::args().skip(1);
    let rows: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let repeat: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let ctx = SessionContext::new();
    let setup = strip_comments(SETUP).replace(":rows", &rows.to_string());
    for statement in setup.split(';').filter(|s| !s.trim().is_empty()) {
        ctx.sql(statement).await?.collect().await?;
    }
    let mut medians = Vec::new();
    for query in strip_comments(QUERIES)
        .lines()
        .filter(|l| !l.trim().is_empty())
    {
        ctx.sql(query).await?.collect().await?; // warm-up
        let mut ms = Vec::with_capacity(repeat);
        for _ in 0..repeat {
            let start = Instant::now();
            ctx.sql(query).await?.collect().await?;
            ms.push(start.elapsed().as_secs_f64() * 1000.0);
        }
        ms.sort_by(f64::total_cmp);
        medians.push(format!("{:.2}", ms[ms.len() / 2]));
    }
    println!("{}", medians.join(" "));
    Ok(())
}
