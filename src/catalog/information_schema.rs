//! `information_schema` as PostgreSQL shows it, defined as views over
//! `pg_catalog` so both always agree. DataFusion's own information_schema
//! names Arrow types (`Int32`) and counts columns from 0, which confuses
//! tools that read it as Postgres' (SQLAlchemy, DBeaver, Grafana).

use std::sync::Arc;

use datafusion::catalog::{MemorySchemaProvider, TableProvider};
use datafusion::prelude::SessionContext;

use super::DATABASE;
use crate::error::{BrookError, Result};

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
            d.adbin AS column_default,
            CASE WHEN a.attnotnull THEN 'NO' ELSE 'YES' END AS is_nullable,
            format_type(a.atttypid, -1) AS data_type,
            CAST(CASE WHEN a.atttypid = 1043 AND a.atttypmod > 4
                      THEN a.atttypmod - 4 END AS integer) AS character_maximum_length,
            CAST(CASE WHEN a.atttypid = 1700 AND a.atttypmod > 4
                      THEN (a.atttypmod - 4) / 65536
                      WHEN a.atttypid = 21 THEN 16 WHEN a.atttypid = 23 THEN 32
                      WHEN a.atttypid = 20 THEN 64 WHEN a.atttypid = 700 THEN 24
                      WHEN a.atttypid = 701 THEN 53 END AS integer) AS numeric_precision,
            CAST(CASE WHEN a.atttypid = 1700 AND a.atttypmod > 4
                      THEN (a.atttypmod - 4) % 65536
                      WHEN a.atttypid IN (21, 23, 20) THEN 0 END AS integer) AS numeric_scale,
            'brook' AS udt_catalog, 'pg_catalog' AS udt_schema, t.typname AS udt_name,
            CASE WHEN a.attidentity = 'a' THEN 'YES' ELSE 'NO' END AS is_identity,
            CASE WHEN a.attidentity = 'a' THEN 'ALWAYS' END AS identity_generation,
            'NEVER' AS is_generated,
            CASE WHEN c.relkind = 'r' THEN 'YES' ELSE 'NO' END AS is_updatable
     FROM pg_catalog.pg_attribute a
     JOIN pg_catalog.pg_class c ON a.attrelid = c.oid
     JOIN pg_catalog.pg_namespace n ON c.relnamespace = n.oid
     LEFT JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
     LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE c.relkind IN ('r', 'v') AND a.attnum > 0",
    // Primary keys and UNIQUE constraints.
    "CREATE VIEW information_schema.table_constraints AS
     SELECT 'brook' AS constraint_catalog, n.nspname AS constraint_schema,
            k.conname AS constraint_name, 'brook' AS table_catalog,
            n.nspname AS table_schema, c.relname AS table_name,
            CASE k.contype WHEN 'p' THEN 'PRIMARY KEY' ELSE 'UNIQUE' END AS constraint_type,
            'NO' AS is_deferrable,
            'NO' AS initially_deferred, 'YES' AS enforced
     FROM pg_catalog.pg_constraint k
     JOIN pg_catalog.pg_class c ON k.conrelid = c.oid
     JOIN pg_catalog.pg_namespace n ON c.relnamespace = n.oid
     WHERE k.contype IN ('p', 'u')",
    "CREATE VIEW information_schema.key_column_usage AS
     SELECT 'brook' AS constraint_catalog, n.nspname AS constraint_schema,
            k.conname AS constraint_name, 'brook' AS table_catalog,
            n.nspname AS table_schema, c.relname AS table_name, a.attname AS column_name,
            CAST(k.position AS integer) AS ordinal_position,
            CAST(NULL AS integer) AS position_in_unique_constraint
     FROM (SELECT conname, conrelid, unnest(conkey) AS attnum,
                  unnest(generate_series(1, array_length(conkey, 1))) AS position
           FROM pg_catalog.pg_constraint WHERE contype IN ('p', 'u')) k
     JOIN pg_catalog.pg_class c ON k.conrelid = c.oid
     JOIN pg_catalog.pg_namespace n ON c.relnamespace = n.oid
     JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.attnum",
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

/// Add one of Brook's system tables (pipelines, models, sessions) to the
/// registered `information_schema`. The engine, which owns the subsystems
/// those tables show, calls this: the catalog knows no subsystem.
pub fn add_table(ctx: &SessionContext, name: &str, table: Arc<dyn TableProvider>) -> Result<()> {
    let schema = ctx
        .catalog(DATABASE)
        .and_then(|c| c.schema(SCHEMA))
        .ok_or_else(|| BrookError::CatalogCorrupt(format!("schema {SCHEMA} missing")))?;
    schema
        .register_table(name.to_string(), table)
        .map_err(|e| BrookError::CatalogCorrupt(e.to_string()))?;
    Ok(())
}
