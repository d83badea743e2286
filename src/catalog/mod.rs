//! Names → tables and views, kept durable across restarts.
//!
//! The catalog file (`catalog.json` in the data directory) lists schemas,
//! tables (with their Postgres column types, NOT NULL and DEFAULT) and views (their
//! SQL). It is rewritten atomically (write, fsync, rename, fsync the directory) on
//! every DDL statement. The same objects are mirrored into DataFusion's in-memory
//! catalog, which is what queries and `pg_catalog`/`information_schema` read.

pub mod comments;
pub mod declared_types;
pub mod grants;
mod in_transaction;
pub mod information_schema;
pub mod names;
pub mod pg_acl;
pub mod pg_expandarray;
pub mod pg_format;
pub mod pg_functions;
pub mod pg_json;
pub mod pg_overlay;
pub mod pg_regexp_split;
pub mod pg_rewrites;
pub mod pg_scalar_functions;
pub mod pg_text_casts;
pub mod pg_to_char;
pub mod policies;
pub mod privileges;
pub mod roles;
pub mod search_path;
pub mod sequences;
pub mod session_catalog;
pub mod settings;
pub mod size_limits;
pub mod system_table;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::catalog::{CatalogProvider, MemorySchemaProvider, SchemaProvider};
use datafusion::common::DFSchema;
use datafusion::logical_expr::Expr;
use datafusion::prelude::SessionContext;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::error::{BrookError, Result};
use crate::storage::DurableTable;
use crate::storage::commit::CommitLog;
use crate::storage::constraints::{Check, Constraints, UniqueKey};
use crate::storage::types::column_type;
pub use in_transaction::{Committed, Moved, Replacement};
pub use names::{DATABASE, DEFAULT_SCHEMA, QualifiedName};
pub use privileges::Acl;
use privileges::row_security::RowSecurity;

const CATALOG_FILE: &str = "catalog.json";
const TABLES_DIR: &str = "tables";

/// A column as the user declared it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ColumnDef {
    pub name: String,
    /// The Postgres spelling of the type (`integer`, `character varying(20)`).
    pub pg_type: String,
    pub nullable: bool,
    /// The DEFAULT expression as SQL text, evaluated at insert time.
    pub default: Option<String>,
    /// `GENERATED ALWAYS AS IDENTITY`: only its sequence writes it (an
    /// INSERT's or UPDATE's own value is refused, 428C9); `BY DEFAULT`
    /// identity columns are plain defaults and say false.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub always_identity: bool,
    /// `COMMENT ON COLUMN`: kept with the column, so that it follows a
    /// rename and goes with a drop, as in PostgreSQL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// A CHECK constraint as declared: its name and its condition as SQL text.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckDef {
    pub name: String,
    pub expr: String,
}

/// A UNIQUE constraint as declared: its name, its columns in key order,
/// and whether NULLs are distinct (PostgreSQL's default: rows whose key has
/// a NULL never conflict).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UniqueDef {
    pub name: String,
    pub columns: Vec<String>,
    #[serde(default = "nulls_distinct", skip_serializing_if = "is_true")]
    pub nulls_distinct: bool,
}

fn nulls_distinct() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

/// A `CREATE INDEX` that is not UNIQUE: recorded with its table (so that
/// migrations that make and drop it work, and the catalog lists it), not
/// built — Brook's scans prune by the files' statistics instead.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IndexDef {
    pub name: String,
    pub columns: Vec<String>,
}

/// What a `CREATE TABLE` declares beyond its columns: the rules every
/// write is checked against, and the indexes recorded on it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableRules {
    /// The PRIMARY KEY columns, in key order (empty: none).
    pub primary_key: Vec<String>,
    pub unique: Vec<UniqueDef>,
    pub checks: Vec<CheckDef>,
    pub indexes: Vec<IndexDef>,
    /// `COMMENT ON TABLE`: carried with the rules so that an `ALTER
    /// TABLE`, which makes the table anew, keeps it.
    pub comment: Option<String>,
    /// Its owner and grants, kept the same way.
    pub acl: Acl,
    /// Its row-level security and policies, kept the same way.
    pub row_security: RowSecurity,
}

/// A table's declaration: columns in order and its keys.
#[derive(Debug, Clone)]
pub struct DeclaredTable {
    pub name: QualifiedName,
    pub columns: Vec<ColumnDef>,
    pub primary_key: Vec<String>,
    pub unique: Vec<UniqueDef>,
    pub indexes: Vec<IndexDef>,
}

impl DeclaredTable {
    /// The 1-based position of column `name` (`pg_attribute.attnum`).
    pub fn attnum(&self, name: &str) -> Option<i16> {
        let index = self.columns.iter().position(|c| c.name == name)?;
        i16::try_from(index + 1).ok()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct TableEntry {
    schema: String,
    name: String,
    /// Directory under `tables/`, unique for the table's lifetime so that a
    /// dropped and re-created table never sees the old files.
    dir: String,
    columns: Vec<ColumnDef>,
    /// The PRIMARY KEY columns, in key order (empty: none). Pipelines with
    /// `REPLACE`/`IGNORE` use it to find the row a message replaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    primary_key: Vec<String>,
    /// UNIQUE constraints besides the PRIMARY KEY.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    unique: Vec<UniqueDef>,
    /// CHECK constraints, evaluated on every row written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    checks: Vec<CheckDef>,
    /// Indexes recorded, not built (see [`IndexDef`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    indexes: Vec<IndexDef>,
    /// `COMMENT ON TABLE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
    /// Its owner and grants (catalog::privileges).
    #[serde(default)]
    acl: Acl,
    /// `ENABLE ROW LEVEL SECURITY` and `CREATE POLICY`.
    #[serde(default, skip_serializing_if = "RowSecurity::is_default")]
    row_security: RowSecurity,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ViewEntry {
    schema: String,
    name: String,
    /// The full `CREATE VIEW` statement, replayed at start-up.
    sql: String,
    /// `COMMENT ON VIEW` and `COMMENT ON COLUMN` of its columns.
    #[serde(default, skip_serializing_if = "comments::ViewComments::is_empty")]
    comments: comments::ViewComments,
    #[serde(default)]
    acl: Acl,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CatalogFile {
    format: u32,
    next_id: u64,
    /// The write-ahead log record whose schema changes (a transaction's
    /// `CREATE TABLE`, …) this file last took in: recovery applies the
    /// later ones it finds in the log.
    #[serde(default)]
    lsn: u64,
    schemas: Vec<String>,
    tables: Vec<TableEntry>,
    views: Vec<ViewEntry>,
    /// `COMMENT ON SCHEMA`, by schema.
    #[serde(default = "comments::initial_schema_comments")]
    schema_comments: std::collections::BTreeMap<String, String>,
    /// Each schema's owner and grants (one missing: the bootstrap
    /// superuser's, nothing granted).
    #[serde(default = "initial_schema_acls")]
    schema_acls: std::collections::BTreeMap<String, Acl>,
    /// Who may create schemas (CREATE on the database).
    #[serde(default)]
    database_acl: Acl,
    /// `ALTER DEFAULT PRIVILEGES`: what new tables and views are granted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    default_acls: Vec<privileges::default_acl::DefaultAcl>,
}

/// `public` as a new PostgreSQL 15 database has it: everyone may use it,
/// only its owner may create in it.
fn initial_schema_acls() -> std::collections::BTreeMap<String, Acl> {
    std::collections::BTreeMap::from([(
        DEFAULT_SCHEMA.to_string(),
        privileges::acl::public_schema_acl(privileges::acl::BOOTSTRAP_OWNER),
    )])
}

impl CatalogFile {
    /// The owners and grants the checks read.
    fn privileges(&self) -> privileges::Snapshot {
        use privileges::RelationKind;
        let name = |schema: &str, name: &str| QualifiedName {
            schema: schema.to_string(),
            name: name.to_string(),
        };
        privileges::Snapshot {
            relations: self
                .tables
                .iter()
                .map(|t| {
                    (
                        name(&t.schema, &t.name),
                        (RelationKind::Table, t.acl.clone()),
                    )
                })
                .chain(self.views.iter().map(|v| {
                    (
                        name(&v.schema, &v.name),
                        (RelationKind::View, v.acl.clone()),
                    )
                }))
                .collect(),
            schemas: self
                .schemas
                .iter()
                .map(|s| {
                    (
                        s.clone(),
                        self.schema_acls.get(s).cloned().unwrap_or_default(),
                    )
                })
                .collect(),
            database: self.database_acl.clone(),
            default_acls: self.default_acls.clone(),
            row_security: HashMap::new(),
        }
    }
}

impl Default for CatalogFile {
    fn default() -> Self {
        Self {
            format: 1,
            next_id: 1,
            lsn: 0,
            schemas: vec![DEFAULT_SCHEMA.to_string()],
            tables: vec![],
            views: vec![],
            schema_comments: comments::initial_schema_comments(),
            schema_acls: initial_schema_acls(),
            database_acl: Acl::default(),
            default_acls: vec![],
        }
    }
}

/// The durable catalog and its mirror in DataFusion.
pub struct Catalog {
    data_dir: PathBuf,
    ctx: Arc<SessionContext>,
    /// DDL statements queue here; queries never take this lock.
    file: tokio::sync::Mutex<CatalogFile>,
    tables: std::sync::RwLock<HashMap<QualifiedName, DurableTable>>,
    /// The write-ahead log, once start-up has replayed it: tables created
    /// from then on commit through it.
    commit_log: std::sync::OnceLock<CommitLog>,
    /// Where the owners and grants are published after every write.
    privileges: privileges::Privileges,
}

impl Catalog {
    /// Load the catalog from `data_dir` (creating a fresh one) and register
    /// every schema, table and view with `ctx`.
    pub async fn open(
        data_dir: &Path,
        ctx: Arc<SessionContext>,
        privileges: privileges::Privileges,
    ) -> Result<Self> {
        std::fs::create_dir_all(data_dir.join(TABLES_DIR))?;
        let path = data_dir.join(CATALOG_FILE);
        let file = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<CatalogFile>(&bytes)
                .map_err(|e| BrookError::CatalogCorrupt(format!("{}: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let fresh = CatalogFile::default();
                write_atomically(&path, &fresh)?;
                fresh
            }
            Err(e) => return Err(e.into()),
        };
        let catalog = Self {
            data_dir: data_dir.to_path_buf(),
            ctx,
            file: tokio::sync::Mutex::new(file.clone()),
            tables: std::sync::RwLock::new(HashMap::new()),
            commit_log: std::sync::OnceLock::new(),
            privileges,
        };
        catalog.publish_privileges(&file);
        for schema in &file.schemas {
            catalog.register_schema(schema)?;
        }
        for entry in &file.tables {
            let table = catalog.open_table(entry).await?;
            catalog.register_table(entry.schema.clone(), entry.name.clone(), table)?;
        }
        for view in &file.views {
            if let Err(e) = catalog.ctx.sql(&view.sql).await {
                warn!(view = %view.name, error = %e, "view could not be restored");
            }
        }
        catalog.sweep_orphans(&file);
        info!(
            tables = file.tables.len(),
            views = file.views.len(),
            "catalog loaded"
        );
        Ok(catalog)
    }

    fn df_catalog(&self) -> Result<Arc<dyn CatalogProvider>> {
        self.ctx
            .catalog(DATABASE)
            .ok_or_else(|| BrookError::CatalogCorrupt(format!("database {DATABASE} missing")))
    }

    fn df_schema(&self, schema: &str) -> Result<Arc<dyn SchemaProvider>> {
        self.df_catalog()?
            .schema(schema)
            .ok_or_else(|| BrookError::UndefinedSchema(schema.to_string()))
    }

    fn register_schema(&self, schema: &str) -> Result<()> {
        let catalog = self.df_catalog()?;
        if catalog.schema(schema).is_none() {
            catalog
                .register_schema(schema, Arc::new(MemorySchemaProvider::new()))
                .map_err(|e| BrookError::Storage(e.to_string()))?;
        }
        Ok(())
    }

    fn register_table(&self, schema: String, name: String, table: DurableTable) -> Result<()> {
        self.df_schema(&schema)?
            .register_table(name.clone(), Arc::new(table.clone()))
            .map_err(|e| BrookError::Storage(e.to_string()))?;
        if let Ok(mut tables) = self.tables.write() {
            tables.insert(QualifiedName { schema, name }, table);
        }
        Ok(())
    }

    fn arrow_schema(columns: &[ColumnDef]) -> Result<SchemaRef> {
        let fields = columns
            .iter()
            .map(|c| {
                Ok(Field::new(
                    &c.name,
                    column_type(&c.pg_type)?.arrow,
                    c.nullable,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Arc::new(Schema::new(fields)))
    }

    /// What the table's writes are checked against; a CHECK condition that
    /// does not plan over the columns is refused here, at CREATE TABLE.
    fn constraints(&self, schema: &SchemaRef, entry: &TableEntry) -> Result<Constraints> {
        let mut constraints = Constraints::new(
            schema,
            entry
                .columns
                .iter()
                .map(|c| (c.name.as_str(), c.pg_type.as_str())),
            &entry.name,
            entry.primary_key.clone(),
            entry.unique.iter().map(|u| UniqueKey {
                name: u.name.clone(),
                columns: u.columns.clone(),
                nulls_distinct: u.nulls_distinct,
            }),
        );
        constraints.always_identity = entry
            .columns
            .iter()
            .filter(|c| c.always_identity)
            .map(|c| c.name.clone())
            .collect();
        if entry.checks.is_empty() {
            return Ok(constraints);
        }
        let state = self.ctx.state();
        for check in &entry.checks {
            constraints
                .checks
                .push(Check::compile(&state, schema, &check.name, &check.expr)?);
        }
        Ok(constraints)
    }

    fn defaults(&self, columns: &[ColumnDef]) -> Result<HashMap<String, Expr>> {
        let state = self.ctx.state();
        let empty = DFSchema::empty();
        columns
            .iter()
            .filter_map(|c| c.default.as_ref().map(|d| (c, d)))
            .map(|(c, sql)| {
                let expr = state.create_logical_expr(sql, &empty).map_err(|e| {
                    BrookError::InvalidText(format!("DEFAULT of column \"{}\": {e}", c.name))
                })?;
                Ok((c.name.clone(), expr))
            })
            .collect()
    }

    async fn open_table(&self, entry: &TableEntry) -> Result<DurableTable> {
        let schema = Self::arrow_schema(&entry.columns)?;
        let defaults = self.defaults(&entry.columns)?;
        let constraints = self.constraints(&schema, entry)?;
        let dir = self.data_dir.join(TABLES_DIR).join(&entry.dir);
        DurableTable::open(&dir, &entry.name, schema, defaults, constraints).await
    }

    /// Remove table directories no catalog entry names: left by a crash between
    /// creating a table's files and recording it, or by a DROP.
    fn sweep_orphans(&self, file: &CatalogFile) {
        let Ok(dirs) = std::fs::read_dir(self.data_dir.join(TABLES_DIR)) else {
            return;
        };
        for dir in dirs.flatten() {
            let name = dir.file_name().to_string_lossy().to_string();
            if !file.tables.iter().any(|t| t.dir == name) {
                info!(dir = %name, "removing files of a dropped or never-committed table");
                if let Err(e) = std::fs::remove_dir_all(dir.path()) {
                    warn!(dir = %name, error = %e, "could not remove orphaned table files");
                }
            }
        }
    }

    fn save(&self, file: &CatalogFile) -> Result<()> {
        write_atomically(&self.data_dir.join(CATALOG_FILE), file)?;
        self.publish_privileges(file);
        Ok(())
    }

    /// Publish `file`'s owners, grants and row-level security (its
    /// policies compiled against their tables' columns) to the checks.
    fn publish_privileges(&self, file: &CatalogFile) {
        let mut snapshot = file.privileges();
        let policed: Vec<&TableEntry> = file
            .tables
            .iter()
            .filter(|t| !t.row_security.is_default())
            .collect();
        if !policed.is_empty() {
            let state = self.ctx.state();
            for table in policed {
                // Columns that make no schema: no policy compiles, no row passes.
                let columns = Self::arrow_schema(&table.columns)
                    .ok()
                    .and_then(|s| DFSchema::try_from(s.as_ref().clone()).ok())
                    .unwrap_or_else(DFSchema::empty);
                let policies = privileges::row_security::TablePolicies::compile(
                    &table.name,
                    &table.row_security,
                    |sql| policies::compile(&state, &columns, sql),
                );
                let name = QualifiedName {
                    schema: table.schema.clone(),
                    name: table.name.clone(),
                };
                snapshot.row_security.insert(name, Arc::new(policies));
            }
        }
        self.privileges.publish(snapshot);
    }

    /// The owners and grants every check reads.
    pub fn privileges(&self) -> &privileges::Privileges {
        &self.privileges
    }

    fn exists(file: &CatalogFile, name: &QualifiedName) -> bool {
        file.tables
            .iter()
            .any(|t| t.schema == name.schema && t.name == name.name)
            || file
                .views
                .iter()
                .any(|v| v.schema == name.schema && v.name == name.name)
    }

    /// Create a durable table. Returns false when it existed and `if_not_exists` was given.
    pub async fn create_table(
        &self,
        name: &QualifiedName,
        columns: Vec<ColumnDef>,
        rules: TableRules,
        if_not_exists: bool,
    ) -> Result<bool> {
        let mut file = self.file.lock().await;
        if !file.schemas.contains(&name.schema) {
            return Err(BrookError::UndefinedSchema(name.schema.clone()));
        }
        if Self::exists(&file, name) {
            return if if_not_exists {
                Ok(false)
            } else {
                Err(BrookError::DuplicateTable(name.name.clone()))
            };
        }
        if columns.is_empty() {
            return Err(BrookError::Unsupported("a table with no columns".into()));
        }
        let mut next = file.clone();
        let entry = TableEntry {
            schema: name.schema.clone(),
            name: name.name.clone(),
            dir: Self::allocate_dir(&mut next, name),
            columns,
            primary_key: rules.primary_key,
            unique: rules.unique,
            checks: rules.checks,
            indexes: rules.indexes,
            comment: rules.comment,
            acl: rules.acl,
            row_security: rules.row_security,
        };
        let table = self.create_files(&entry).await?;
        next.tables.push(entry);
        self.save(&next)?;
        *file = next;
        self.register_table(name.schema.clone(), name.name.clone(), table)?;
        Ok(true)
    }

    /// A directory name for a new table, unique for the data directory's life.
    fn allocate_dir(file: &mut CatalogFile, name: &QualifiedName) -> String {
        let dir = format!("{:06}_{}_{}", file.next_id, name.schema, name.name)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect::<String>();
        file.next_id += 1;
        dir
    }

    /// Make the files of a new table `entry` declares, attached to the log.
    async fn create_files(&self, entry: &TableEntry) -> Result<DurableTable> {
        let schema = Self::arrow_schema(&entry.columns)?;
        let defaults = self.defaults(&entry.columns)?;
        let dir = self.data_dir.join(TABLES_DIR).join(&entry.dir);
        let constraints = self.constraints(&schema, entry)?;
        let table = DurableTable::create(&dir, &entry.name, schema, defaults, constraints).await?;
        if let Some(log) = self.commit_log.get() {
            table.attach(log);
        }
        Ok(table)
    }

    /// Drop a table; its files are removed after the catalog no longer names them.
    pub async fn drop_table(&self, name: &QualifiedName, if_exists: bool) -> Result<()> {
        let mut file = self.file.lock().await;
        let Some(pos) = file
            .tables
            .iter()
            .position(|t| t.schema == name.schema && t.name == name.name)
        else {
            return if if_exists {
                Ok(())
            } else {
                Err(BrookError::UndefinedTable(name.to_string()))
            };
        };
        let mut next = file.clone();
        let entry = next.tables.remove(pos);
        self.save(&next)?;
        *file = next;
        self.forget_table(name);
        let dir = self.data_dir.join(TABLES_DIR).join(&entry.dir);
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            warn!(dir = %dir.display(), error = %e, "dropped table's files remain; removed at next start");
        }
        Ok(())
    }

    /// Take a dropped table out of the DataFusion mirror and the table map.
    fn forget_table(&self, name: &QualifiedName) {
        if let Ok(schema) = self.df_schema(&name.schema) {
            let _ = schema.deregister_table(&name.name);
        }
        if let Ok(mut tables) = self.tables.write() {
            tables.remove(name);
        }
    }

    /// Record a view that DataFusion has just created from `sql`.
    pub async fn record_view(&self, name: &QualifiedName, sql: String, acl: Acl) -> Result<()> {
        let mut file = self.file.lock().await;
        let mut next = file.clone();
        // `CREATE OR REPLACE VIEW` keeps the comments, the owner and the
        // grants, as in PostgreSQL.
        let (comments, acl) = next
            .views
            .iter()
            .find(|v| v.schema == name.schema && v.name == name.name)
            .map(|v| (v.comments.clone(), v.acl.clone()))
            .unwrap_or((Default::default(), acl));
        next.views
            .retain(|v| !(v.schema == name.schema && v.name == name.name));
        next.views.push(ViewEntry {
            schema: name.schema.clone(),
            name: name.name.clone(),
            sql,
            comments,
            acl,
        });
        self.save(&next)?;
        *file = next;
        Ok(())
    }

    /// Whether `name` is a view Brook knows.
    pub async fn is_view(&self, name: &QualifiedName) -> bool {
        let file = self.file.lock().await;
        file.views
            .iter()
            .any(|v| v.schema == name.schema && v.name == name.name)
    }

    /// Whether a table or view called `name` exists.
    pub async fn relation_exists(&self, name: &QualifiedName) -> bool {
        Self::exists(&*self.file.lock().await, name)
    }

    /// Drop a view.
    pub async fn drop_view(&self, name: &QualifiedName, if_exists: bool) -> Result<()> {
        let mut file = self.file.lock().await;
        if !file
            .views
            .iter()
            .any(|v| v.schema == name.schema && v.name == name.name)
        {
            return if if_exists {
                Ok(())
            } else {
                Err(BrookError::UndefinedTable(name.to_string()))
            };
        }
        let mut next = file.clone();
        next.views
            .retain(|v| !(v.schema == name.schema && v.name == name.name));
        self.save(&next)?;
        *file = next;
        if let Ok(schema) = self.df_schema(&name.schema) {
            let _ = schema.deregister_table(&name.name);
        }
        Ok(())
    }

    /// Create a schema (a namespace for tables and views).
    pub async fn create_schema(&self, schema: &str, if_not_exists: bool, acl: Acl) -> Result<()> {
        let mut file = self.file.lock().await;
        if file.schemas.iter().any(|s| s == schema) {
            return if if_not_exists {
                Ok(())
            } else {
                Err(BrookError::DuplicateSchema(schema.to_string()))
            };
        }
        let mut next = file.clone();
        next.schemas.push(schema.to_string());
        next.schema_acls.insert(schema.to_string(), acl);
        self.save(&next)?;
        *file = next;
        self.register_schema(schema)
    }

    /// Whether schema `schema` exists.
    pub async fn schema_exists(&self, schema: &str) -> bool {
        self.file.lock().await.schemas.iter().any(|s| s == schema)
    }

    /// Drop an empty schema (or, with `cascade`, everything in it).
    pub async fn drop_schema(&self, schema: &str, if_exists: bool, cascade: bool) -> Result<()> {
        let (tables, views) = {
            let file = self.file.lock().await;
            if !file.schemas.iter().any(|s| s == schema) {
                return if if_exists {
                    Ok(())
                } else {
                    Err(BrookError::UndefinedSchema(schema.to_string()))
                };
            }
            let tables: Vec<QualifiedName> = file
                .tables
                .iter()
                .filter(|t| t.schema == schema)
                .map(|t| QualifiedName {
                    schema: t.schema.clone(),
                    name: t.name.clone(),
                })
                .collect();
            let views: Vec<QualifiedName> = file
                .views
                .iter()
                .filter(|v| v.schema == schema)
                .map(|v| QualifiedName {
                    schema: v.schema.clone(),
                    name: v.name.clone(),
                })
                .collect();
            (tables, views)
        };
        let empty = tables.is_empty() && views.is_empty();
        if !cascade && !empty {
            return Err(BrookError::DependentObjects(schema.to_string()));
        }
        for view in &views {
            self.drop_view(view, true).await?;
        }
        for table in &tables {
            self.drop_table(table, true).await?;
        }
        let mut file = self.file.lock().await;
        let mut next = file.clone();
        next.schemas.retain(|s| s != schema);
        next.schema_comments.remove(schema);
        next.schema_acls.remove(schema);
        next.default_acls
            .retain(|d| d.schema.as_deref() != Some(schema));
        self.save(&next)?;
        *file = next;
        let _ = self.df_catalog()?.deregister_schema(schema, true);
        Ok(())
    }

    /// The durable table called `name`, if there is one.
    pub fn table(&self, name: &QualifiedName) -> Option<DurableTable> {
        self.tables.read().ok()?.get(name).cloned()
    }

    /// The PRIMARY KEY columns of a table (empty when it has none).
    pub async fn primary_key(&self, name: &QualifiedName) -> Option<Vec<String>> {
        let file = self.file.lock().await;
        file.tables
            .iter()
            .find(|t| t.schema == name.schema && t.name == name.name)
            .map(|t| t.primary_key.clone())
    }

    /// The declared columns of table `name` (types as the user wrote them).
    pub async fn columns(&self, name: &QualifiedName) -> Option<Vec<ColumnDef>> {
        let file = self.file.lock().await;
        file.tables
            .iter()
            .find(|t| t.schema == name.schema && t.name == name.name)
            .map(|t| t.columns.clone())
    }

    /// Every table as declared, for the `pg_catalog` rows drivers reflect
    /// (keys, defaults).
    pub async fn declared_tables(&self) -> Vec<DeclaredTable> {
        let file = self.file.lock().await;
        file.tables
            .iter()
            .map(|t| DeclaredTable {
                name: QualifiedName {
                    schema: t.schema.clone(),
                    name: t.name.clone(),
                },
                columns: t.columns.clone(),
                primary_key: t.primary_key.clone(),
                unique: t.unique.clone(),
                indexes: t.indexes.clone(),
            })
            .collect()
    }

    /// Commit through `log` in the tables created from now on (the open ones
    /// were attached by recovery).
    pub fn set_commit_log(&self, log: CommitLog) {
        let _ = self.commit_log.set(log);
    }

    /// Every durable table, for background work such as compaction.
    pub fn all_tables(&self) -> Vec<DurableTable> {
        self.tables
            .read()
            .map(|t| t.values().cloned().collect())
            .unwrap_or_default()
    }
}

fn write_atomically(path: &Path, file: &CatalogFile) -> Result<()> {
    crate::durable_file::write_json_atomically(path, file)
}
