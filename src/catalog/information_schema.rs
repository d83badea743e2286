//! `information_schema` as PostgreSQL shows it, defined as views over
//! `pg_catalog` so both always agree. DataFusion's own information_schema
//! names Arrow types (`Int32`) and counts columns from 0, which confuses
//! tools that read it as Postgres' (SQLAlchemy, DBeaver, Grafana).

use std::sync::Arc;

use datafusion::catalog::{MemorySchemaProvider, TableProvider};
use datafusion::prelude::SessionContext;

use super::DATABASE;
use crate::error::{BrookError, Result};
use crate::pipeline::Pipelines;

/// The schema's name, also used to keep it out of Brook's own catalog file.
pub const SCHEMA: &str = "information_schema";

const VIEWS: &[&str] = &[
    "CREATE VIEW information_schema.schemata AS
     SELECT 'brook' AS catalog_name, nspname AS schema_name, 'brook' AS schema_owner
     FROM pg_catalog.pg_namespace",
    "CREATE VIEW information_schema.tables AS
     SELECT 'brook' AS table_catalog, n.nspname AS table_schema, c.relname AS table_name,
            CASE WHEN c.relkind = 'v' THEN 'VIEW' ELSE 'BASE TABLE' END AS table_type
     FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON c.relnamespace = n.oid
     WHERE c.relkind IN ('r', 'v')",
    "CREATE VIEW information_schema.views AS
     SELECT 'brook' AS table_catalog, n.nspname AS table_schema, c.relname AS table_name
     FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON c.relnamespace = n.oid
     WHERE c.relkind = 'v'",
    "CREATE VIEW information_schema.columns AS
     SELECT 'brook' AS table_catalog, n.nspname AS table_schema, c.relname AS table_name,
            a.attname AS column_name, CAST(a.attnum AS integer) AS ordinal_position,
            CASE WHEN a.attnotnull THEN 'NO' ELSE 'YES' END AS is_nullable,
            format_type(a.atttypid, a.atttypmod) AS data_type
     FROM pg_catalog.pg_attribute a
     JOIN pg_catalog.pg_class c ON a.attrelid = c.oid
     JOIN pg_catalog.pg_namespace n ON c.relnamespace = n.oid
     WHERE c.relkind IN ('r', 'v') AND a.attnum > 0",
];

/// Register the schema and its views with `ctx` (whose own information_schema is off).
pub async fn register(ctx: &SessionContext) -> Result<()> {
    let catalog = ctx
        .catalog(DATABASE)
        .ok_or_else(|| BrookError::CatalogCorrupt(format!("database {DATABASE} missing")))?;
    catalog
        .register_schema(SCHEMA, Arc::new(MemorySchemaProvider::new()))
        .map_err(|e| BrookError::CatalogCorrupt(e.to_string()))?;
    for view in VIEWS {
        ctx.sql(view).await?.collect().await?;
    }
    Ok(())
}

/// Register the pipeline system tables (SPEC §2) in `information_schema`.
pub fn register_pipelines(ctx: &SessionContext, pipelines: &Pipelines) -> Result<()> {
    use crate::pipeline::system_tables;
    let schema = ctx
        .catalog(DATABASE)
        .and_then(|c| c.schema(SCHEMA))
        .ok_or_else(|| BrookError::CatalogCorrupt(format!("schema {SCHEMA} missing")))?;
    let listing = pipelines.listing();
    let tables: Vec<(&str, Arc<dyn TableProvider>)> = vec![
        (
            "pipelines",
            Arc::new(system_tables::pipelines(listing.clone())),
        ),
        (
            "pipelines_cursors",
            Arc::new(system_tables::cursors(listing.clone())),
        ),
        (
            "pipelines_batches_summary",
            Arc::new(system_tables::batches(listing)),
        ),
        (
            "pipelines_errors",
            Arc::new(pipelines.error_log().table().clone()),
        ),
    ];
    for (name, table) in tables {
        schema
            .register_table(name.to_string(), table)
            .map_err(|e| BrookError::CatalogCorrupt(e.to_string()))?;
    }
    Ok(())
}

/// Register `information_schema.models` (SPEC §2).
pub fn register_models(ctx: &SessionContext, models: &crate::ml::Models) -> Result<()> {
    let schema = ctx
        .catalog(DATABASE)
        .and_then(|c| c.schema(SCHEMA))
        .ok_or_else(|| BrookError::CatalogCorrupt(format!("schema {SCHEMA} missing")))?;
    schema
        .register_table(
            "models".to_string(),
            Arc::new(crate::ml::system_table::models(models.registry.clone())),
        )
        .map_err(|e| BrookError::CatalogCorrupt(e.to_string()))?;
    Ok(())
}
