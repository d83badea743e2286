//! Schema changes inside `BEGIN … COMMIT`: `CREATE TABLE`, `DROP TABLE`,
//! `CREATE VIEW` and `DROP VIEW` take part in the transaction, as in
//! PostgreSQL (docs/transactions.md, "Schema changes").
//!
//! A change is *staged* in the session's transaction
//! (`storage::transaction::Staged`): the session's own statements see it at
//! once (a created table can be filled, read and dropped again), no other
//! session sees anything of it. A created table's files are made at once,
//! in a directory no catalog entry names, so that a crash leaves nothing
//! but files start-up sweeps away. At COMMIT the changes are checked again
//! against the catalog as it is then (a name another session took since
//! answers 42P07, and nothing of the transaction is applied), written into
//! the transaction's one write-ahead log record together with its rows,
//! and applied to the catalog while the rows are published. A crash after
//! the record is durable and before `catalog.json` took the changes in is
//! repaired at start-up from the record ([`Catalog::replay_changes`]): the
//! record is the commit point of the rows and the schema changes alike.

use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tracing::warn;

use super::comments::CommentTarget;
use super::grants::AclTarget;
use super::privileges::Acl;
use super::privileges::row_security::RowSecurity;
use super::{
    Catalog, CatalogFile, DeclaredTable, QualifiedName, TABLES_DIR, TableEntry, ViewEntry,
};
use crate::error::{BrookError, Result};
use crate::storage::DurableTable;
use crate::storage::transaction::{CatalogCommit, SessionTransaction, Staged};

/// One schema change as the log carries it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
enum Change {
    CreateTable {
        entry: TableEntry,
        /// Set when an `ALTER TABLE` made this table from another one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replaces: Option<Replaces>,
    },
    DropTable {
        schema: String,
        name: String,
        dir: String,
    },
    CreateView {
        view: ViewEntry,
        replace: bool,
    },
    DropView {
        schema: String,
        name: String,
    },
    CreateSchema {
        schema: String,
        /// Its owner (the bootstrap superuser in records older than owners).
        #[serde(default)]
        acl: Acl,
    },
    /// `GRANT`, `REVOKE`, `ALTER … OWNER TO`: the object's owner and grants
    /// as they are from then on.
    SetAcl {
        target: AclTarget,
        acl: Acl,
    },
    /// `ALTER TABLE … ROW LEVEL SECURITY`, `CREATE/ALTER/DROP POLICY`:
    /// the table's row-level security as it is from then on.
    SetRowSecurity {
        relation: QualifiedName,
        security: RowSecurity,
    },
    /// `COMMENT ON …`; `text` None removes the comment.
    Comment {
        target: CommentTarget,
        text: Option<String>,
    },
}

/// The table an `ALTER TABLE` replaced, and which of its columns live on
/// under which name: what the sequences its columns own follow at COMMIT.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Replaces {
    schema: String,
    name: String,
    /// (old name, new name) of every column kept.
    columns: Vec<(String, String)>,
}

/// What an `ALTER TABLE` makes of a table.
#[derive(Debug, Clone)]
pub struct Replacement {
    pub columns: Vec<super::ColumnDef>,
    pub rules: super::TableRules,
    /// (old name, new name) of every column that lives on.
    pub kept: Vec<(String, String)>,
    /// The caller keeps the old table's writers out until COMMIT.
    pub held: bool,
}

/// A table an `ALTER TABLE` replaced, as COMMIT reports it: the sequences
/// owned by its columns follow them to `to` (or go with a dropped column).
#[derive(Debug, Clone)]
pub struct Moved {
    pub from: QualifiedName,
    pub to: QualifiedName,
    /// (old name, new name) of every column kept.
    pub columns: Vec<(String, String)>,
}

/// What a COMMIT with schema changes did to tables, for what hangs on
/// them outside the catalog (sequences).
#[derive(Debug, Clone, Default)]
pub struct Committed {
    /// Tables dropped (an `ALTER TABLE`'s replaced table among them).
    pub dropped: Vec<QualifiedName>,
    pub moved: Vec<Moved>,
}

fn encode(change: &Change) -> Result<serde_json::Value> {
    serde_json::to_value(change).map_err(|e| BrookError::Internal(e.to_string()))
}

/// Stage `change`, which names no relation (a comment, a grant, a
/// policy): the session's relations stay as they are.
fn stage_unnamed(session: &SessionTransaction, change: &Change) -> Result<()> {
    session.stage(Staged {
        schema: String::new(),
        name: String::new(),
        relation: None,
        created: None,
        change: encode(change)?,
        undo: None,
    })
}

fn decode(value: &serde_json::Value) -> Result<Change> {
    serde_json::from_value(value.clone()).map_err(|e| BrookError::Internal(e.to_string()))
}

impl Catalog {
    /// The declared tables as `session` sees them: the committed ones with
    /// its open transaction's schema changes applied (what its
    /// `pg_constraint` and `pg_index` list).
    pub async fn declared_tables_in(&self, session: &SessionTransaction) -> Vec<DeclaredTable> {
        let mut tables = self.declared_tables().await;
        for change in session
            .staged_changes()
            .iter()
            .filter_map(|c| decode(c).ok())
        {
            let (schema, name) = match &change {
                Change::CreateTable { entry, .. } => (&entry.schema, &entry.name),
                Change::DropTable { schema, name, .. } | Change::DropView { schema, name } => {
                    (schema, name)
                }
                Change::CreateView { view, .. } => (&view.schema, &view.name),
                Change::CreateSchema { .. }
                | Change::Comment { .. }
                | Change::SetAcl { .. }
                | Change::SetRowSecurity { .. } => {
                    continue;
                }
            };
            tables.retain(|t| &t.name.schema != schema || &t.name.name != name);
            if let Change::CreateTable { entry, .. } = change {
                tables.push(DeclaredTable {
                    name: QualifiedName {
                        schema: entry.schema,
                        name: entry.name,
                    },
                    columns: entry.columns,
                    primary_key: entry.primary_key,
                    unique: entry.unique,
                    indexes: entry.indexes,
                });
            }
        }
        tables
    }
}

impl Catalog {
    /// Table `name`'s columns and rules as `session` sees them (its open
    /// transaction's `CREATE TABLE`/`ALTER TABLE` first), for `ALTER TABLE`.
    pub async fn declaration_for(
        &self,
        session: Option<&SessionTransaction>,
        name: &QualifiedName,
    ) -> Option<(Vec<super::ColumnDef>, super::TableRules)> {
        let of = |entry: &TableEntry| {
            (
                entry.columns.clone(),
                super::TableRules {
                    primary_key: entry.primary_key.clone(),
                    unique: entry.unique.clone(),
                    checks: entry.checks.clone(),
                    indexes: entry.indexes.clone(),
                    comment: entry.comment.clone(),
                    acl: entry.acl.clone(),
                    row_security: entry.row_security.clone(),
                },
            )
        };
        let staged = staged(session, name, |c| match c {
            Change::CreateTable { entry, .. }
                if entry.schema == name.schema && entry.name == name.name =>
            {
                Some(of(&entry))
            }
            _ => None,
        });
        if let Some(staged) = staged {
            return staged;
        }
        let file = self.file.lock().await;
        file.tables
            .iter()
            .find(|t| t.schema == name.schema && t.name == name.name)
            .map(of)
    }

    /// The `CREATE VIEW` text of view `name` as `session` sees it (one its
    /// open transaction made first).
    pub async fn view_sql_for(
        &self,
        session: Option<&SessionTransaction>,
        name: &QualifiedName,
    ) -> Option<String> {
        let staged = staged(session, name, |c| match c {
            Change::CreateView { view, .. }
                if view.schema == name.schema && view.name == name.name =>
            {
                Some(view.sql)
            }
            _ => None,
        });
        if let Some(staged) = staged {
            return staged;
        }
        let file = self.file.lock().await;
        file.views
            .iter()
            .find(|v| v.schema == name.schema && v.name == name.name)
            .map(|v| v.sql.clone())
    }

    /// Every committed view, in the order they were made (a view after
    /// the views it reads): its name and its `CREATE VIEW` text.
    pub async fn views(&self) -> Vec<(QualifiedName, String)> {
        let file = self.file.lock().await;
        file.views
            .iter()
            .map(|v| {
                (
                    QualifiedName {
                        schema: v.schema.clone(),
                        name: v.name.clone(),
                    },
                    v.sql.clone(),
                )
            })
            .collect()
    }
}

/// What `session`'s open transaction made of relation `name`, when one of
/// its schema changes names it: the latest change `pick` takes, or
/// `Some(None)` when it dropped the relation. `None`: the committed
/// catalog answers.
fn staged<T>(
    session: Option<&SessionTransaction>,
    name: &QualifiedName,
    pick: impl Fn(Change) -> Option<T>,
) -> Option<Option<T>> {
    let session = open(session)?;
    let relation = session.staged_relation(&name.schema, &name.name)?;
    Some(relation.and_then(|_| {
        session
            .staged_changes()
            .iter()
            .rev()
            .filter_map(|c| decode(c).ok())
            .find_map(pick)
    }))
}

/// Whether `session`'s open transaction created schema `schema`.
fn staged_schema(session: &SessionTransaction, schema: &str) -> bool {
    session
        .staged_changes()
        .iter()
        .filter_map(|c| decode(c).ok())
        .any(|c| matches!(c, Change::CreateSchema { schema: s, .. } if s == schema))
}

impl Catalog {
    /// Whether schema `schema` exists for `session` (its open transaction's
    /// `CREATE SCHEMA` included).
    pub async fn schema_exists_for(
        &self,
        session: Option<&SessionTransaction>,
        schema: &str,
    ) -> bool {
        open(session).is_some_and(|s| staged_schema(s, schema)) || self.schema_exists(schema).await
    }

    /// `CREATE SCHEMA` in `session`'s open transaction: the catalog takes it
    /// in at COMMIT. Its namespace is made in DataFusion now, empty, so that
    /// the session can create tables in it; others cannot (the catalog does
    /// not list it), and a ROLLBACK takes the empty namespace away again.
    pub async fn stage_create_schema(
        &self,
        session: &SessionTransaction,
        schema: &str,
        if_not_exists: bool,
        acl: Acl,
    ) -> Result<()> {
        if self.schema_exists_for(Some(session), schema).await {
            return if if_not_exists {
                Ok(())
            } else {
                Err(BrookError::DuplicateSchema(schema.to_string()))
            };
        }
        self.register_schema(schema)?;
        let database = self.df_catalog()?;
        let name = schema.to_string();
        let undo: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
            let empty = database
                .schema(&name)
                .is_some_and(|s| s.table_names().is_empty());
            if empty {
                let _ = database.deregister_schema(&name, false);
            }
        });
        session.stage(Staged {
            schema: schema.to_string(),
            name: String::new(),
            relation: None,
            created: None,
            change: encode(&Change::CreateSchema {
                schema: schema.to_string(),
                acl,
            })?,
            undo: Some(undo),
        })
    }
}

/// `session`'s transaction, when one is open.
fn open(session: Option<&SessionTransaction>) -> Option<&SessionTransaction> {
    session.filter(|s| s.is_open())
}

impl Catalog {
    /// The durable table `name` is for `session`: its transaction's schema
    /// changes first (a table it created, none for one it dropped).
    pub fn table_for(
        &self,
        session: Option<&SessionTransaction>,
        name: &QualifiedName,
    ) -> Option<DurableTable> {
        match open(session).and_then(|s| s.staged_table(&name.schema, &name.name)) {
            Some(staged) => staged,
            None => self.table(name),
        }
    }

    /// Whether a table or view called `name` exists for `session`.
    pub async fn exists_for(
        &self,
        session: Option<&SessionTransaction>,
        name: &QualifiedName,
    ) -> bool {
        match open(session).and_then(|s| s.staged_relation(&name.schema, &name.name)) {
            Some(relation) => relation.is_some(),
            None => self.relation_exists(name).await,
        }
    }

    /// Whether `name` is a view for `session`.
    pub async fn is_view_for(
        &self,
        session: Option<&SessionTransaction>,
        name: &QualifiedName,
    ) -> bool {
        match open(session).and_then(|s| s.staged_relation(&name.schema, &name.name)) {
            Some(relation) => relation.is_some() && self.table_for(session, name).is_none(),
            None => self.is_view(name).await,
        }
    }

    /// `CREATE TABLE` in `session`'s open transaction: the table's files
    /// are made now, the catalog takes it in at COMMIT. `undo` runs as well
    /// if the transaction does not commit (the sequences of its serial
    /// columns). Returns the new table, for `CREATE TABLE AS` to fill.
    pub async fn stage_create_table(
        &self,
        session: &SessionTransaction,
        name: &QualifiedName,
        columns: Vec<super::ColumnDef>,
        rules: super::TableRules,
        undo: Option<Arc<dyn Fn() + Send + Sync>>,
    ) -> Result<DurableTable> {
        self.stage_new_table(session, name, columns, rules, undo, None)
            .await
    }

    /// `ALTER TABLE` in `session`'s open transaction: `old` is dropped and
    /// a table `name` as `replacement` declares it made in new files, for
    /// the caller to fill with `old`'s rows (returned, with the new table).
    pub async fn stage_replace_table(
        &self,
        session: &SessionTransaction,
        old: &QualifiedName,
        name: &QualifiedName,
        replacement: Replacement,
    ) -> Result<(DurableTable, DurableTable)> {
        let previous = self
            .table_for(Some(session), old)
            .ok_or_else(|| BrookError::UndefinedTable(old.name.clone()))?;
        if !self.stage_drop_table(session, old).await? {
            return Err(BrookError::UndefinedTable(old.name.clone()));
        }
        session.copied(&previous, replacement.held);
        let replaces = Replaces {
            schema: old.schema.clone(),
            name: old.name.clone(),
            columns: replacement.kept,
        };
        let table = self
            .stage_new_table(
                session,
                name,
                replacement.columns,
                replacement.rules,
                None,
                Some(replaces),
            )
            .await?;
        Ok((previous, table))
    }

    async fn stage_new_table(
        &self,
        session: &SessionTransaction,
        name: &QualifiedName,
        columns: Vec<super::ColumnDef>,
        rules: super::TableRules,
        undo: Option<Arc<dyn Fn() + Send + Sync>>,
        replaces: Option<Replaces>,
    ) -> Result<DurableTable> {
        if columns.is_empty() {
            return Err(BrookError::Unsupported("a table with no columns".into()));
        }
        let entry = {
            let mut file = self.file.lock().await;
            if !file.schemas.contains(&name.schema) && !staged_schema(session, &name.schema) {
                return Err(BrookError::UndefinedSchema(name.schema.clone()));
            }
            let exists = match session.staged_relation(&name.schema, &name.name) {
                Some(relation) => relation.is_some(),
                None => Self::exists(&file, name),
            };
            if exists {
                return Err(BrookError::DuplicateTable(name.name.clone()));
            }
            // The directory's number is taken for good (kept in the file),
            // whatever becomes of the transaction.
            let mut next = file.clone();
            let dir = Self::allocate_dir(&mut next, name);
            self.save(&next)?;
            *file = next;
            TableEntry {
                schema: name.schema.clone(),
                name: name.name.clone(),
                dir,
                columns,
                primary_key: rules.primary_key,
                unique: rules.unique,
                checks: rules.checks,
                indexes: rules.indexes,
                comment: rules.comment,
                acl: rules.acl,
                row_security: rules.row_security,
            }
        };
        let table = self.create_files(&entry).await?;
        let files = table.dir().to_path_buf();
        let undo: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
            if let Err(e) = std::fs::remove_dir_all(&files) {
                warn!(dir = %files.display(), error = %e, "files of a table never committed remain; removed at next start");
            }
            if let Some(undo) = &undo {
                undo();
            }
        });
        session.stage(Staged {
            schema: name.schema.clone(),
            name: name.name.clone(),
            relation: Some(Arc::new(table.clone())),
            created: Some(table.clone()),
            change: encode(&Change::CreateTable { entry, replaces })?,
            undo: Some(undo),
        })?;
        Ok(table)
    }

    /// `DROP TABLE` in `session`'s open transaction: the session no longer
    /// sees the table; the catalog drops it at COMMIT. Returns whether
    /// there was one.
    pub async fn stage_drop_table(
        &self,
        session: &SessionTransaction,
        name: &QualifiedName,
    ) -> Result<bool> {
        let dir = match session.staged_table(&name.schema, &name.name) {
            Some(Some(created)) => created.dir().to_path_buf(),
            Some(None) => return Ok(false),
            None => {
                let file = self.file.lock().await;
                let Some(entry) = file
                    .tables
                    .iter()
                    .find(|t| t.schema == name.schema && t.name == name.name)
                else {
                    return Ok(false);
                };
                self.data_dir.join(TABLES_DIR).join(&entry.dir)
            }
        };
        let dir = dir
            .file_name()
            .map(|d| d.to_string_lossy().to_string())
            .ok_or_else(|| BrookError::Internal(format!("table directory {}", dir.display())))?;
        session.stage(Staged {
            schema: name.schema.clone(),
            name: name.name.clone(),
            relation: None,
            created: None,
            change: encode(&Change::DropTable {
                schema: name.schema.clone(),
                name: name.name.clone(),
                dir,
            })?,
            undo: None,
        })?;
        Ok(true)
    }

    /// `CREATE [OR REPLACE] VIEW` in `session`'s open transaction: `view`
    /// is what the session reads under the name until COMMIT, which
    /// records `sql`.
    pub fn stage_create_view(
        &self,
        session: &SessionTransaction,
        name: &QualifiedName,
        sql: String,
        view: Arc<dyn datafusion::catalog::TableProvider>,
        replace: bool,
        acl: Acl,
    ) -> Result<()> {
        session.stage(Staged {
            schema: name.schema.clone(),
            name: name.name.clone(),
            relation: Some(view),
            created: None,
            change: encode(&Change::CreateView {
                view: ViewEntry {
                    schema: name.schema.clone(),
                    name: name.name.clone(),
                    sql,
                    comments: Default::default(),
                    acl,
                },
                replace,
            })?,
            undo: None,
        })
    }

    /// `ALTER VIEW … RENAME TO` in `session`'s open transaction: view
    /// `from` dropped and made again as `to` from `sql`, its comments kept.
    pub async fn stage_rename_view(
        &self,
        session: &SessionTransaction,
        from: &QualifiedName,
        to: &QualifiedName,
        sql: String,
        view: Arc<dyn datafusion::catalog::TableProvider>,
    ) -> Result<()> {
        let (comments, acl) = self
            .file_as_seen_by(Some(session))
            .await
            .views
            .into_iter()
            .find(|v| v.schema == from.schema && v.name == from.name)
            .map(|v| (v.comments, v.acl))
            .unwrap_or_default();
        self.stage_drop_view(session, from)?;
        session.stage(Staged {
            schema: to.schema.clone(),
            name: to.name.clone(),
            relation: Some(view),
            created: None,
            change: encode(&Change::CreateView {
                view: ViewEntry {
                    schema: to.schema.clone(),
                    name: to.name.clone(),
                    sql,
                    comments,
                    acl,
                },
                replace: false,
            })?,
            undo: None,
        })
    }

    /// `COMMENT ON …` in `session`'s open transaction (checked against the
    /// catalog as the session sees it now, and again at COMMIT).
    pub async fn stage_comment(
        &self,
        session: &SessionTransaction,
        target: CommentTarget,
        text: Option<String>,
    ) -> Result<()> {
        let mut seen = self.file_as_seen_by(Some(session)).await;
        super::comments::apply(&mut seen, &target, text.as_ref())?;
        stage_unnamed(session, &Change::Comment { target, text })
    }

    /// The owner and grants of `target` as `session` sees them (its open
    /// transaction's changes included).
    pub async fn acl_for(
        &self,
        session: Option<&SessionTransaction>,
        target: &AclTarget,
    ) -> Result<Acl> {
        super::grants::get(&self.file_as_seen_by(session).await, target)
    }

    /// `GRANT`, `REVOKE` or `ALTER … OWNER TO` in `session`'s open
    /// transaction: `target`'s owner and grants become `acl` (checked
    /// against the catalog as the session sees it now, and again at COMMIT).
    pub async fn stage_acl(
        &self,
        session: &SessionTransaction,
        target: AclTarget,
        acl: Acl,
    ) -> Result<()> {
        let mut seen = self.file_as_seen_by(Some(session)).await;
        super::grants::set(&mut seen, &target, acl.clone())?;
        stage_unnamed(session, &Change::SetAcl { target, acl })
    }

    /// Table `relation`'s row-level security as `session` sees it.
    pub async fn row_security_for(
        &self,
        session: Option<&SessionTransaction>,
        relation: &QualifiedName,
    ) -> Result<RowSecurity> {
        super::policies::get(&self.file_as_seen_by(session).await, relation)
    }

    /// A row-level security change in `session`'s open transaction
    /// (checked against the catalog as the session sees it now, and again
    /// at COMMIT).
    pub async fn stage_row_security(
        &self,
        session: &SessionTransaction,
        relation: QualifiedName,
        security: RowSecurity,
    ) -> Result<()> {
        let mut seen = self.file_as_seen_by(Some(session)).await;
        super::policies::set(&mut seen, &relation, security.clone())?;
        stage_unnamed(session, &Change::SetRowSecurity { relation, security })
    }

    /// The catalog file with `session`'s open transaction's schema changes
    /// applied, each as far as it applies.
    pub(super) async fn file_as_seen_by(
        &self,
        session: Option<&SessionTransaction>,
    ) -> CatalogFile {
        let mut file = self.file.lock().await.clone();
        if let Some(session) = open(session) {
            for change in session
                .staged_changes()
                .iter()
                .filter_map(|c| decode(c).ok())
            {
                let _ = Self::plan(&mut file, std::slice::from_ref(&change));
            }
        }
        file
    }

    /// `DROP VIEW` in `session`'s open transaction.
    pub fn stage_drop_view(
        &self,
        session: &SessionTransaction,
        name: &QualifiedName,
    ) -> Result<()> {
        session.stage(Staged {
            schema: name.schema.clone(),
            name: name.name.clone(),
            relation: None,
            created: None,
            change: encode(&Change::DropView {
                schema: name.schema.clone(),
                name: name.name.clone(),
            })?,
            undo: None,
        })
    }

    /// `COMMIT` of `session`'s transaction, its schema changes with its
    /// rows in one log record. Returns the tables it dropped (their owned
    /// sequences go too).
    pub async fn commit(&self, session: &SessionTransaction) -> Result<Committed> {
        let Some(finished) = session.finish() else {
            return Ok(Committed::default());
        };
        if finished.staged().is_empty() {
            finished.commit(None).await?;
            return Ok(Committed::default());
        }
        let changes = match finished
            .staged()
            .iter()
            .map(|s| decode(&s.change))
            .collect::<Result<Vec<_>>>()
        {
            Ok(changes) => changes,
            Err(e) => {
                finished.discard();
                return Err(e);
            }
        };
        let Some(log) = self.commit_log.get().cloned() else {
            finished.discard();
            return Err(BrookError::Storage(
                "the write-ahead log is not open".into(),
            ));
        };
        let mut file = self.file.lock().await;
        let mut next = file.clone();
        if let Err(e) = Self::plan(&mut next, &changes) {
            finished.discard();
            return Err(e);
        }
        let bytes = match serde_json::to_vec(&changes) {
            Ok(bytes) => bytes,
            Err(e) => {
                finished.discard();
                return Err(BrookError::Internal(e.to_string()));
            }
        };
        let dropped: HashSet<std::path::PathBuf> = changes
            .iter()
            .filter_map(|c| match c {
                Change::DropTable { dir, .. } => Some(self.data_dir.join(TABLES_DIR).join(dir)),
                _ => None,
            })
            .collect();
        let staged: Vec<Staged> = finished.staged().to_vec();
        let mut apply = |lsn: u64| -> Result<()> {
            next.lsn = lsn;
            self.save(&next)?;
            *file = next.clone();
            for (change, staged) in changes.iter().zip(&staged) {
                self.apply_in_memory(change, staged.created.clone(), staged.relation.clone())?;
            }
            Ok(())
        };
        finished
            .commit(Some(CatalogCommit {
                log,
                bytes,
                dropped: dropped.clone(),
                apply: &mut apply,
            }))
            .await?;
        for dir in &dropped {
            if let Err(e) = std::fs::remove_dir_all(dir) {
                warn!(dir = %dir.display(), error = %e, "dropped table's files remain; removed at next start");
            }
        }
        let mut committed = Committed::default();
        for change in &changes {
            match change {
                Change::DropTable { schema, name, .. } => committed.dropped.push(QualifiedName {
                    schema: schema.clone(),
                    name: name.clone(),
                }),
                Change::CreateTable {
                    entry,
                    replaces: Some(replaces),
                } => committed.moved.push(Moved {
                    from: QualifiedName {
                        schema: replaces.schema.clone(),
                        name: replaces.name.clone(),
                    },
                    to: QualifiedName {
                        schema: entry.schema.clone(),
                        name: entry.name.clone(),
                    },
                    columns: replaces.columns.clone(),
                }),
                _ => {}
            }
        }
        Ok(committed)
    }

    /// Apply `changes` to `file`, checking each against it as it then is.
    fn plan(file: &mut CatalogFile, changes: &[Change]) -> Result<()> {
        for change in changes {
            match change {
                Change::CreateTable { entry, .. } => {
                    let name = QualifiedName {
                        schema: entry.schema.clone(),
                        name: entry.name.clone(),
                    };
                    if !file.schemas.contains(&entry.schema) {
                        return Err(BrookError::UndefinedSchema(entry.schema.clone()));
                    }
                    if Self::exists(file, &name) {
                        return Err(BrookError::DuplicateTable(entry.name.clone()));
                    }
                    // Never hand its directory's number out again.
                    if let Some(n) = entry
                        .dir
                        .split('_')
                        .next()
                        .and_then(|n| n.parse::<u64>().ok())
                    {
                        file.next_id = file.next_id.max(n + 1);
                    }
                    file.tables.push(entry.clone());
                }
                Change::DropTable { dir, .. } => file.tables.retain(|t| &t.dir != dir),
                Change::CreateView { view, replace } => {
                    let same = |v: &ViewEntry| v.schema == view.schema && v.name == view.name;
                    let is_table = file
                        .tables
                        .iter()
                        .any(|t| t.schema == view.schema && t.name == view.name);
                    if is_table || (!replace && file.views.iter().any(same)) {
                        return Err(BrookError::DuplicateTable(view.name.clone()));
                    }
                    if !file.schemas.contains(&view.schema) {
                        return Err(BrookError::UndefinedSchema(view.schema.clone()));
                    }
                    let mut view = view.clone();
                    // `CREATE OR REPLACE VIEW` keeps the comments, the owner
                    // and the grants, as in PostgreSQL.
                    if let Some(old) = file.views.iter().find(|v| same(v)) {
                        if view.comments.is_empty() {
                            view.comments = old.comments.clone();
                        }
                        view.acl = old.acl.clone();
                    }
                    file.views.retain(|v| !same(v));
                    file.views.push(view);
                }
                Change::DropView { schema, name } => file
                    .views
                    .retain(|v| !(&v.schema == schema && &v.name == name)),
                Change::CreateSchema { schema, acl } => {
                    if !file.schemas.contains(schema) {
                        file.schemas.push(schema.clone());
                        file.schema_acls.insert(schema.clone(), acl.clone());
                    }
                }
                Change::SetAcl { target, acl } => super::grants::set(file, target, acl.clone())?,
                Change::SetRowSecurity { relation, security } => {
                    super::policies::set(file, relation, security.clone())?
                }
                Change::Comment { target, text } => {
                    super::comments::apply(file, target, text.as_ref())?
                }
            }
        }
        Ok(())
    }

    /// Make one committed change current in the DataFusion mirror.
    fn apply_in_memory(
        &self,
        change: &Change,
        created: Option<DurableTable>,
        relation: Option<Arc<dyn datafusion::catalog::TableProvider>>,
    ) -> Result<()> {
        match change {
            Change::CreateTable { entry, .. } => {
                let table = created.ok_or_else(|| {
                    BrookError::Internal(format!("table \"{}\" without its files", entry.name))
                })?;
                self.register_table(entry.schema.clone(), entry.name.clone(), table)
            }
            Change::DropTable { schema, name, dir } => {
                let name = QualifiedName {
                    schema: schema.clone(),
                    name: name.clone(),
                };
                let ours = self
                    .table(&name)
                    .is_some_and(|t| t.dir().file_name().is_some_and(|d| d == dir.as_str()));
                if ours {
                    self.forget_table(&name);
                }
                Ok(())
            }
            Change::CreateView { view, .. } => {
                let schema = self.df_schema(&view.schema)?;
                let _ = schema.deregister_table(&view.name);
                let relation = relation.ok_or_else(|| {
                    BrookError::Internal(format!("view \"{}\" without its plan", view.name))
                })?;
                schema
                    .register_table(view.name.clone(), relation)
                    .map_err(|e| BrookError::Storage(e.to_string()))?;
                Ok(())
            }
            Change::DropView { schema, name } => {
                if let Ok(schema) = self.df_schema(schema) {
                    let _ = schema.deregister_table(name);
                }
                Ok(())
            }
            Change::CreateSchema { schema, .. } => self.register_schema(schema),
            Change::Comment { .. } | Change::SetAcl { .. } | Change::SetRowSecurity { .. } => {
                Ok(())
            }
        }
    }

    /// The LSN of the last log record whose schema changes the catalog file holds.
    pub async fn lsn(&self) -> u64 {
        self.file.lock().await.lsn
    }

    /// At start-up: apply the schema changes a log record at `lsn` carries,
    /// if the catalog file does not hold them yet (the server stopped
    /// between the record and the file).
    pub async fn replay_changes(&self, lsn: u64, bytes: &[u8]) -> Result<()> {
        let mut file = self.file.lock().await;
        if lsn <= file.lsn {
            return Ok(());
        }
        let changes: Vec<Change> = serde_json::from_slice(bytes).map_err(|e| {
            BrookError::CatalogCorrupt(format!("schema changes of log record {lsn}: {e}"))
        })?;
        let mut next = file.clone();
        Self::plan(&mut next, &changes)?;
        next.lsn = lsn;
        for change in &changes {
            match change {
                Change::CreateTable { entry, .. } => {
                    if !next.tables.iter().any(|t| t.dir == entry.dir) {
                        continue;
                    }
                    // Files a crash left half made: the record has every row.
                    let dir = self.data_dir.join(TABLES_DIR).join(&entry.dir);
                    if dir.exists() {
                        std::fs::remove_dir_all(&dir)?;
                    }
                    let table = self.create_files(entry).await?;
                    self.register_table(entry.schema.clone(), entry.name.clone(), table)?;
                }
                Change::DropTable { schema, name, dir } => {
                    let name = QualifiedName {
                        schema: schema.clone(),
                        name: name.clone(),
                    };
                    if self
                        .table(&name)
                        .is_some_and(|t| t.dir().file_name().is_some_and(|d| d == dir.as_str()))
                    {
                        self.forget_table(&name);
                    }
                    let files = self.data_dir.join(TABLES_DIR).join(dir);
                    if files.exists() {
                        std::fs::remove_dir_all(&files)?;
                    }
                }
                Change::CreateView { view, .. } => {
                    if let Ok(schema) = self.df_schema(&view.schema) {
                        let _ = schema.deregister_table(&view.name);
                    }
                    if let Err(e) = self.ctx.sql(&view.sql).await {
                        warn!(view = %view.name, error = %e, "view could not be restored");
                    }
                }
                Change::DropView { schema, name } => {
                    if let Ok(schema) = self.df_schema(schema) {
                        let _ = schema.deregister_table(name);
                    }
                }
                Change::CreateSchema { schema, .. } => self.register_schema(schema)?,
                Change::Comment { .. } | Change::SetAcl { .. } | Change::SetRowSecurity { .. } => {}
            }
        }
        self.save(&next)?;
        *file = next;
        Ok(())
    }
}
