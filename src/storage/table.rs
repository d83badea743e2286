//! A durable table: a Delta Lake table on local disk plus a memtable of the
//! commits not yet flushed to it, served to DataFusion as one.
//!
//! An append (INSERT, COPY, a pipeline batch) is one record in the
//! write-ahead log (`storage::commit`): acknowledged once the record is
//! fsynced, visible at once from the memtable, and written to Delta by the
//! flusher later, many commits to one Parquet file. Rewrites (UPDATE,
//! DELETE, TRUNCATE, keyed writes) first flush the memtable and then make
//! one Delta commit, so a statement's rows appear all together or not at
//! all, also after `kill -9`. Readers take the latest published version, an
//! immutable snapshot, and never wait for writers.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, RecordBatch, UInt32Array};
use datafusion::arrow::compute::take_record_batch;
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::row::{RowConverter, Rows, SortField};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Result as DfResult;
use datafusion::common::ScalarValue;
use datafusion::datasource::TableType;
use datafusion::datasource::sink::{DataSink, DataSinkExec};
use datafusion::error::DataFusionError;
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, lit};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan};
use datafusion::prelude::SessionConfig;
use deltalake::DeltaTable;
use deltalake::kernel::Transaction;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::kernel::{StructField, StructType};
use deltalake::protocol::SaveMode;
use futures::TryStreamExt;
use url::Url;

mod transactional;

use super::commit::{APPLIED_LSN_APP_ID, CommitLog, CommitRecord, TableChange};
use super::constraints::{self, Check, Constraints, UniqueKey};
use super::memtable::{Entry, MemView};
use super::rewrite::{Change, Source};
use super::scan::VersionScan;
use super::transaction::SessionTransaction;
use crate::error::{BrookError, Result};

/// A Delta snapshot and the scan provider over its files.
struct DeltaVersion {
    table: DeltaTable,
    provider: Arc<dyn TableProvider>,
}

/// One published version of a table: a Delta snapshot and the commits
/// after it that are still only in the memtable, less what rewrites among
/// those commits removed (whole Delta files and whole earlier commits,
/// `storage::rewrite`) until a flush makes the removals Delta's.
pub struct Version {
    delta: Arc<DeltaVersion>,
    memtable: MemView,
    /// Delta files (by scan file id) this version no longer reads.
    hidden: Arc<HashSet<String>>,
    /// Memtable commits (by LSN) this version no longer reads.
    dead: Arc<HashSet<u64>>,
    /// The scan of the Delta files it reads: `delta.provider` unless
    /// files are hidden.
    files: Arc<dyn TableProvider>,
}

/// What a rewrite removed, ready to publish (see [`DurableTable::prepare_removal`]).
struct Removal {
    hidden: Arc<HashSet<String>>,
    dead: Arc<HashSet<u64>>,
    files: Arc<dyn TableProvider>,
}

impl Version {
    /// `delta` with `memtable` and nothing removed.
    fn clean(delta: Arc<DeltaVersion>, memtable: MemView) -> Self {
        Version {
            files: delta.provider.clone(),
            delta,
            memtable,
            hidden: Arc::default(),
            dead: Arc::default(),
        }
    }

    /// This version with `memtable` in place of its own.
    fn with_memtable(&self, memtable: MemView) -> Self {
        Version {
            delta: self.delta.clone(),
            memtable,
            hidden: self.hidden.clone(),
            dead: self.dead.clone(),
            files: self.files.clone(),
        }
    }

    /// The unflushed commits it reads, with their rows.
    fn live_commits(&self) -> Vec<(u64, RecordBatch)> {
        self.memtable
            .entries()
            .into_iter()
            .filter(|e| e.rows.num_rows() > 0 && !self.dead.contains(&e.lsn))
            .map(|e| (e.lsn, e.rows))
            .collect()
    }
}

/// How a table reaches the write-ahead log once start-up has replayed it.
struct Attached {
    log: CommitLog,
    /// The table's name in log records.
    id: String,
}

struct Inner {
    name: String,
    dir: PathBuf,
    schema: SchemaRef,
    defaults: HashMap<String, Expr>,
    /// Checked on SQL writes: the PRIMARY KEY and `varchar(n)` lengths.
    constraints: Constraints,
    current: RwLock<Arc<Version>>,
    /// Serialises Delta commits to this table (flushes, rewrites,
    /// compaction); readers never take it.
    writer: tokio::sync::Mutex<()>,
    /// Held shared by an append from its log record until it is published,
    /// and exclusively by whoever must see every durable commit in the
    /// memtable: a flush taking its snapshot, a rewrite, a keyed append.
    gate: tokio::sync::RwLock<()>,
    /// Set once start-up has replayed the log into this table; until then
    /// (and in unit tests) appends commit to Delta directly.
    log: OnceLock<Attached>,
    /// Open transactions that removed units of this table: while there are
    /// any, the flusher leaves the memtable alone (up to its memory limit),
    /// because folding a commit they removed into a Delta file would make
    /// their COMMIT fail with 40001.
    pins: std::sync::atomic::AtomicUsize,
    /// Set when a committed `ALTER TABLE` replaced this table with new
    /// files (or a DROP removed it) while holding its locks: a writer that
    /// was waiting for them must not write where no query will ever read.
    retired: std::sync::atomic::AtomicBool,
}

/// One open transaction's hold on a table (see `Inner::pins`).
pub struct Pin(DurableTable);

impl Drop for Pin {
    fn drop(&mut self) {
        self.0
            .inner
            .pins
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A table whose rows live in a Delta Lake directory under the data directory.
#[derive(Clone)]
pub struct DurableTable {
    inner: Arc<Inner>,
}

impl fmt::Debug for DurableTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DurableTable")
            .field("name", &self.inner.name)
            .field("dir", &self.inner.dir)
            .finish()
    }
}

/// The settings Delta's scan provider reads when it is built: strings stay
/// `Utf8` (the type a table declares) instead of DataFusion's default `Utf8View`,
/// so a scan's output type always equals its table's schema.
pub(super) fn scan_session() -> Arc<SessionState> {
    static SESSION: OnceLock<Arc<SessionState>> = OnceLock::new();
    SESSION
        .get_or_init(|| {
            let config = SessionConfig::new().set_bool(
                "datafusion.execution.parquet.schema_force_view_types",
                false,
            );
            Arc::new(SessionStateBuilder::new().with_config(config).build())
        })
        .clone()
}

/// The size compaction merges small files up to. Delta rewrites every file
/// under its target each time it compacts, so its default (100 MiB) made a
/// table fed by a pipeline rewrite most of its rows again and again; a
/// smaller target bounds that to a few rewrites per row, and files of this
/// size still scan at full speed.
const COMPACTED_FILE_BYTES: std::num::NonZeroU64 = std::num::NonZeroU64::new(32 << 20).unwrap();

/// Every commit's properties: `progress` recorded with it, and no log
/// clean-up on the commit path (it lists the whole log directory; the
/// background task does it, see [`DurableTable::clean_log`]). Checkpoints
/// stay on Delta's schedule (every 100 commits).
fn commit_properties(progress: Vec<Transaction>) -> CommitProperties {
    CommitProperties::default()
        .with_application_transactions(progress)
        .with_cleanup_expired_logs(Some(false))
}

/// An append with at least this much data is committed to Delta directly
/// (after a flush, so that commits stay in order) instead of through the
/// log and the memtable: a bulk load is its own large file anyway, and
/// logging it first would write it twice and hold it all in memory.
const DIRECT_APPEND_BYTES: usize = 8 << 20;

/// A memtable holding this much makes the next append flush it first,
/// whatever the flusher's schedule: memory stays bounded when the flusher
/// falls behind, and when flushing fails (a full disk) appends fail with its
/// error instead of filling memory (the log keeps every acknowledged commit).
/// An UPDATE or DELETE that would rewrite more Delta data than this is
/// handed to Delta's own update/delete, which streams it to new files,
/// instead of becoming a log record held in memory until the next flush.
const LARGE_REWRITE_BYTES: u64 = 64 << 20;

const MEMTABLE_LIMIT_BYTES: usize = if cfg!(test) { 64 << 10 } else { 256 << 20 };

/// A length check raised while the new rows are computed reaches here as
/// text only (Delta's update keeps no more): it must keep its code.
fn length_error(e: BrookError) -> BrookError {
    let text = e.to_string();
    match text.find("value too long for type character varying(") {
        Some(at) => BrookError::StringTooLong(text[at..].to_string()),
        None => e,
    }
}

fn table_url(dir: &Path) -> Result<Url> {
    let dir = std::path::absolute(dir)?;
    Url::from_directory_path(&dir)
        .map_err(|_| BrookError::Storage(format!("not a usable directory: {}", dir.display())))
}

impl DurableTable {
    /// Create a new, empty table in `dir` with `schema` (nullability is enforced on write).
    pub async fn create(
        dir: &Path,
        name: &str,
        schema: SchemaRef,
        defaults: HashMap<String, Expr>,
        constraints: Constraints,
    ) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let kernel: StructType = schema
            .as_ref()
            .try_into_kernel()
            .map_err(|e| BrookError::Unsupported(format!("storing this schema: {e}")))?;
        let fields: Vec<StructField> = kernel.fields().cloned().collect();
        let table = DeltaTable::try_from_url(table_url(dir)?)
            .await?
            .create()
            .with_table_name(name)
            .with_columns(fields)
            .with_save_mode(SaveMode::ErrorIfExists)
            .await?;
        Self::from_delta(dir, name, schema, defaults, constraints, table).await
    }

    /// Open an existing table (at start-up): the latest committed version is loaded.
    pub async fn open(
        dir: &Path,
        name: &str,
        schema: SchemaRef,
        defaults: HashMap<String, Expr>,
        constraints: Constraints,
    ) -> Result<Self> {
        let table = deltalake::open_table(table_url(dir)?).await?;
        super::orphans::remove(dir, &table);
        Self::from_delta(dir, name, schema, defaults, constraints, table).await
    }

    async fn from_delta(
        dir: &Path,
        name: &str,
        schema: SchemaRef,
        defaults: HashMap<String, Expr>,
        constraints: Constraints,
        table: DeltaTable,
    ) -> Result<Self> {
        let delta = Self::version_of(table).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                name: name.to_string(),
                dir: dir.to_path_buf(),
                schema,
                defaults,
                constraints,
                current: RwLock::new(Arc::new(Version::clean(
                    Arc::new(delta),
                    MemView::default(),
                ))),
                writer: tokio::sync::Mutex::new(()),
                gate: tokio::sync::RwLock::new(()),
                log: OnceLock::new(),
                pins: std::sync::atomic::AtomicUsize::new(0),
                retired: std::sync::atomic::AtomicBool::new(false),
            }),
        })
    }

    async fn version_of(table: DeltaTable) -> Result<DeltaVersion> {
        let provider = table
            .table_provider()
            .with_session(scan_session())
            .await
            .map_err(|e| BrookError::Storage(e.to_string()))?;
        Ok(DeltaVersion { table, provider })
    }

    /// What a scan of `version` reads: its Delta files and its memtable.
    fn provider_of(&self, version: &Version) -> Arc<dyn TableProvider> {
        if version.memtable.is_empty() {
            return version.files.clone();
        }
        // One batch instead of one per commit: thousands of one-row batches
        // (single-row INSERTs) cost each operator a call per batch.
        let batches: Vec<RecordBatch> = version
            .live_commits()
            .into_iter()
            .map(|(_, rows)| rows)
            .collect();
        let memtable = if batches.len() > 1 {
            match datafusion::arrow::compute::concat_batches(&self.inner.schema, &batches) {
                Ok(one) => vec![one],
                Err(_) => batches,
            }
        } else {
            batches
        };
        Arc::new(VersionScan {
            schema: self.inner.schema.clone(),
            delta: version.files.clone(),
            memtable,
        })
    }

    /// The published version (what a transaction's snapshot holds).
    pub(super) fn current_version(&self) -> Arc<Version> {
        self.current()
    }

    fn current(&self) -> Arc<Version> {
        // A poisoned lock only means a panic elsewhere while swapping an Arc; the
        // value inside is still a complete version.
        match self.inner.current.read() {
            Ok(v) => v.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Swap the published version for the one `next` makes of it, under
    /// one lock so that concurrent publishers never lose each other's work.
    fn publish_with(&self, next: impl FnOnce(&Version) -> Version) {
        let mut current = match self.inner.current.write() {
            Ok(v) => v,
            Err(poisoned) => poisoned.into_inner(),
        };
        *current = Arc::new(next(&current));
    }

    /// Publish a new Delta snapshot that changed no memtable row (a rewrite
    /// after a flush, compaction). The caller has flushed every removal
    /// (nothing hidden or dead), under the writer lock.
    fn publish(&self, delta: DeltaVersion) {
        let delta = Arc::new(delta);
        self.publish_with(|v| {
            debug_assert!(v.hidden.is_empty() && v.dead.is_empty());
            Version::clean(delta, v.memtable.clone())
        });
    }

    /// Publish one commit's entry in the memtable.
    fn publish_entry(&self, entry: Entry) {
        self.publish_with(|v| v.with_memtable(v.memtable.push(entry)));
    }

    /// The hidden files, dead commits and file scan of `version` once a
    /// rewrite removed `removed_files` and `removed_commits` from it: made
    /// before the rewrite's log record, so that publishing after it cannot
    /// fail. The caller holds the writer lock and the gate.
    async fn prepare_removal(
        &self,
        version: &Version,
        removed_files: &[String],
        removed_commits: &[u64],
    ) -> Result<Removal> {
        let mut hidden = (*version.hidden).clone();
        let existing: HashSet<String> = super::rewrite::file_ids(&version.delta.table)?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        // A file already gone (a replayed record whose removal was flushed
        // before a crash) stays gone.
        hidden.extend(
            removed_files
                .iter()
                .filter(|f| existing.contains(*f))
                .cloned(),
        );
        let mut dead = (*version.dead).clone();
        dead.extend(removed_commits.iter().copied());
        let files = if hidden.len() == version.hidden.len() {
            version.files.clone()
        } else {
            let live: Vec<String> = existing.difference(&hidden).cloned().collect();
            self.live_files(&version.delta.table, live).await?
        };
        Ok(Removal {
            hidden: Arc::new(hidden),
            dead: Arc::new(dead),
            files,
        })
    }

    /// Publish a rewrite's entry with the removal prepared for it.
    fn publish_removal(&self, entry: Entry, removal: Removal) {
        self.publish_with(|v| Version {
            delta: v.delta.clone(),
            memtable: v.memtable.push(entry),
            hidden: removal.hidden,
            dead: removal.dead,
            files: removal.files,
        });
    }

    /// A scan of `live`, some of `delta`'s files.
    async fn live_files(
        &self,
        delta: &DeltaTable,
        live: Vec<String>,
    ) -> Result<Arc<dyn TableProvider>> {
        if live.is_empty() {
            return Ok(Arc::new(datafusion::datasource::empty::EmptyTable::new(
                self.inner.schema.clone(),
            )));
        }
        delta
            .table_provider()
            .with_session(scan_session())
            .with_file_paths(live)
            .await
            .map_err(|e| BrookError::Storage(e.to_string()))
    }

    /// The table's name in log records (its directory below the data directory).
    pub fn log_id(&self, log: &CommitLog) -> String {
        log.table_id(&self.inner.dir)
    }

    /// The highest log record the table's Delta log holds (0: none).
    pub async fn applied_lsn(&self) -> Result<u64> {
        let version = self.current();
        let state = version.delta.table.snapshot()?;
        let applied = state
            .transaction_version(version.delta.table.log_store().as_ref(), APPLIED_LSN_APP_ID)
            .await?;
        Ok(applied.and_then(|v| u64::try_from(v).ok()).unwrap_or(0))
    }

    /// Put a logged commit back into the memtable at start-up (replay).
    pub async fn replay(&self, lsn: u64, change: TableChange) -> Result<()> {
        let rows = match change.rows {
            Some(batch) => self.conform(vec![batch])?.pop(),
            None => None,
        };
        let entry = Entry {
            lsn,
            rows: rows.unwrap_or_else(|| RecordBatch::new_empty(self.inner.schema.clone())),
            progress: change.progress,
            at: std::time::Instant::now(),
        };
        if change.removed_files.is_empty() && change.removed_commits.is_empty() {
            self.publish_entry(entry);
            return Ok(());
        }
        let version = self.current();
        let removal = self
            .prepare_removal(&version, &change.removed_files, &change.removed_commits)
            .await?;
        self.publish_removal(entry, removal);
        Ok(())
    }

    /// From now on, commit appends through `log`. Called once, after replay.
    pub fn attach(&self, log: &CommitLog) {
        let id = self.log_id(log);
        let _ = self.inner.log.set(Attached {
            log: log.clone(),
            id,
        });
    }

    /// Whether the memtable should be flushed: it holds `bytes` or more, or
    /// its oldest commit is older than `age`.
    pub fn needs_flush(&self, age: std::time::Duration, bytes: usize) -> bool {
        let memtable = self.current().memtable.clone();
        if self.inner.pins.load(std::sync::atomic::Ordering::SeqCst) > 0
            && memtable.bytes() < MEMTABLE_LIMIT_BYTES
        {
            return false;
        }
        !memtable.is_empty()
            && (memtable.oldest_at().is_some_and(|at| at.elapsed() >= age)
                || memtable.bytes() >= bytes)
    }

    /// The memory the unflushed rows take.
    pub fn unflushed_bytes(&self) -> usize {
        self.current().memtable.bytes()
    }

    /// The lowest LSN the table holds only in its memtable.
    pub fn oldest_unflushed_lsn(&self) -> Option<u64> {
        self.current().memtable.oldest_lsn()
    }

    /// Write the memtable to Delta as one commit. Returns the commits flushed.
    pub async fn flush(&self) -> Result<usize> {
        let _writer = self.inner.writer.lock().await;
        let memtable = {
            // Every append holding the gate has published once we have it, so
            // no commit is durable and missing from this snapshot.
            let _gate = self.inner.gate.write().await;
            self.current()
        };
        self.flush_view(memtable).await
    }

    /// Refuse a write to a table that a committed `ALTER TABLE` or `DROP
    /// TABLE` took away while the writer waited for its locks (40001: run
    /// again, the statement finds the table as it is now). Called with the
    /// gate held, which the committing change held while retiring it.
    pub(super) fn ensure_live(&self) -> Result<()> {
        if self.inner.retired.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(BrookError::TableReplaced(self.inner.name.clone()));
        }
        Ok(())
    }

    /// Keep this table's writers (appends, rewrites, flushes, commits)
    /// out while the guard lives: an `ALTER TABLE` outside a block holds
    /// it from before its snapshot through its COMMIT, so that the copy
    /// it makes is the table's last state, as PostgreSQL's exclusive lock
    /// makes it (readers are not held).
    pub async fn hold_writes(&self) -> tokio::sync::RwLockWriteGuard<'_, ()> {
        self.inner.gate.write().await
    }

    /// Mark the table as replaced or dropped (see [`Self::ensure_live`]).
    pub(super) fn retire(&self) {
        self.inner
            .retired
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Flush and keep this table's writers out: what a rewrite starts with,
    /// so that it works on a Delta snapshot that holds every commit.
    async fn quiesce(
        &self,
    ) -> Result<(
        tokio::sync::MutexGuard<'_, ()>,
        tokio::sync::RwLockWriteGuard<'_, ()>,
    )> {
        let writer = self.inner.writer.lock().await;
        let gate = self.inner.gate.write().await;
        self.ensure_live()?;
        self.flush_view(self.current()).await?;
        Ok((writer, gate))
    }

    /// Commit `memtable`'s entries to Delta with the highest LSN among them,
    /// and publish the rest. The caller holds the writer lock.
    async fn flush_view(&self, version: Arc<Version>) -> Result<usize> {
        let memtable = &version.memtable;
        if memtable.is_empty() {
            return Ok(0);
        }
        let entries = memtable.entries();
        let applied = entries.iter().map(|e| e.lsn).max().unwrap_or(0);
        let mut progress: HashMap<String, (u64, i64)> = HashMap::new();
        for entry in &entries {
            for (app, version) in &entry.progress {
                let latest = progress.entry(app.clone()).or_insert((entry.lsn, *version));
                if entry.lsn >= latest.0 {
                    *latest = (entry.lsn, *version);
                }
            }
        }
        let mut txns: Vec<Transaction> = progress
            .into_iter()
            .map(|(app, (_, version))| Transaction::new(app, version))
            .collect();
        // LSN 0: commits made before the table had a log (unit tests); a
        // table's applied LSN never goes back.
        if applied > 0 {
            txns.push(Transaction::new(
                APPLIED_LSN_APP_ID,
                i64::try_from(applied).unwrap_or(i64::MAX),
            ));
        }
        let batches: Vec<RecordBatch> = version
            .live_commits()
            .into_iter()
            .map(|(_, rows)| rows)
            .collect();
        let batches = if batches.len() > 1 {
            vec![datafusion::arrow::compute::concat_batches(
                &self.inner.schema,
                &batches,
            )?]
        } else {
            batches
        };
        let base = self.remove_hidden(&version).await?;
        let table = base
            .write(self.nonempty(batches))
            .with_save_mode(SaveMode::Append)
            .with_commit_properties(commit_properties(txns))
            .await?;
        let delta = Arc::new(Self::version_of(table).await?);
        let flushed = memtable.len();
        // Rewrites hold the writer lock, as the caller does: nothing was
        // hidden or removed since `version`, and everything it had is flushed.
        self.publish_with(|v| Version::clean(delta, MemView::with(v.memtable.after(flushed))));
        Ok(flushed)
    }

    /// Commit the removal of `version`'s hidden files to Delta, before the
    /// flush's own commit. A crash between the two loses nothing: the
    /// applied LSN has not moved, so replay puts back every unflushed
    /// commit, including the rewrites that hold what the files' surviving
    /// rows became (their removal of a file already gone is a no-op).
    async fn remove_hidden(&self, version: &Version) -> Result<DeltaTable> {
        let base = version.delta.table.clone();
        if version.hidden.is_empty() {
            return Ok(base);
        }
        let root = super::rewrite::table_root(&base);
        let removes: Vec<deltalake::kernel::Action> = base
            .snapshot()?
            .log_data()
            .into_iter()
            .filter(|file| {
                super::rewrite::file_id(&root, &file.path())
                    .is_ok_and(|id| version.hidden.contains(&id))
            })
            .map(|file| deltalake::kernel::Action::Remove(file.remove_action(true)))
            .collect();
        if removes.is_empty() {
            return Ok(base);
        }
        deltalake::kernel::transaction::CommitBuilder::from(commit_properties(Vec::new()))
            .with_actions(removes)
            .build(
                Some(base.snapshot()?),
                base.log_store(),
                deltalake::protocol::DeltaOperation::Delete { predicate: None },
            )
            .await?;
        let mut table = base;
        table.update_state().await?;
        Ok(table)
    }

    /// The name the table was created under (for error messages).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The declared type of column `index` where it is stored as text but
    /// is another type (`varchar`, `uuid`, `json`, `jsonb`): what a
    /// query's result column that reads it is described as.
    pub fn text_type(&self, index: usize) -> Option<crate::storage::text_types::TextType> {
        self.inner
            .constraints
            .text_types
            .iter()
            .find(|(at, _)| *at == index)
            .map(|(_, t)| *t)
    }

    /// The PRIMARY KEY columns, in key order (empty: none).
    pub fn primary_key(&self) -> &[String] {
        &self.inner.constraints.primary_key
    }

    /// The keys writes keep unique: the PRIMARY KEY first, then the UNIQUE
    /// constraints (what an ON CONFLICT clause may name).
    pub fn keys(&self) -> &[UniqueKey] {
        &self.inner.constraints.keys
    }

    /// The columns only their identity sequence writes.
    pub fn always_identity(&self) -> &[String] {
        &self.inner.constraints.always_identity
    }

    /// The table's CHECK constraints, compiled: a pipeline evaluates them per
    /// row to set violating messages aside.
    pub fn checks(&self) -> &[Check] {
        &self.inner.constraints.checks
    }

    /// Where the table's Delta log and Parquet files live.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The committed Delta version readers see now (commits still in the
    /// memtable are not in it: [`DurableTable::flush`] first to include them).
    pub fn version(&self) -> Option<u64> {
        self.current().delta.table.version()
    }

    /// Append `batches` as one commit. `progress` are application
    /// transactions (a pipeline's offsets, one per partition) recorded in the
    /// same commit, so that data and progress can never disagree; a commit
    /// with progress but no rows is still made. Returns the rows written.
    pub async fn append(
        &self,
        batches: Vec<RecordBatch>,
        progress: Vec<Transaction>,
    ) -> Result<u64> {
        let batches = self.conform(batches)?;
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        if rows == 0 && progress.is_empty() {
            return Ok(0);
        }
        let Some(attached) = self.inner.log.get() else {
            return self.append_to_delta(batches, rows, progress).await;
        };
        let bytes: usize = batches.iter().map(RecordBatch::get_array_memory_size).sum();
        if bytes >= DIRECT_APPEND_BYTES {
            return self.append_to_delta(batches, rows, progress).await;
        }
        if self.current().memtable.bytes() >= MEMTABLE_LIMIT_BYTES {
            self.flush().await?;
        }
        let batch = datafusion::arrow::compute::concat_batches(&self.inner.schema, &batches)?;
        let keyed = rows > 0 && !self.inner.constraints.keys.is_empty();
        // A keyed append checks its keys against every commit before it, so
        // it waits for those in flight and keeps others out until it is
        // published; plain appends only keep flushes out and share fsyncs.
        let (_exclusive, _shared) = if keyed {
            let gate = self.inner.gate.write().await;
            self.ensure_live()?;
            self.check_unique(std::slice::from_ref(&batch)).await?;
            (Some(gate), None)
        } else {
            let gate = self.inner.gate.read().await;
            self.ensure_live()?;
            (None, Some(gate))
        };
        let progress: Vec<(String, i64)> = progress
            .into_iter()
            .map(|t| (t.app_id, t.version))
            .collect();
        let record = CommitRecord {
            changes: vec![TableChange {
                table: attached.id.clone(),
                rows: (rows > 0).then(|| batch.clone()),
                progress: progress.clone(),
                removed_files: vec![],
                removed_commits: vec![],
            }],
            catalog: None,
        };
        let durable = attached.log.append(&record).await?;
        self.publish_entry(Entry {
            lsn: durable.lsn,
            rows: batch,
            progress,
            at: std::time::Instant::now(),
        });
        Ok(rows as u64)
    }

    /// [`DurableTable::append`] as one Delta commit: a bulk append, or one
    /// before the table has a log (start-up, unit tests).
    async fn append_to_delta(
        &self,
        batches: Vec<RecordBatch>,
        rows: usize,
        progress: Vec<Transaction>,
    ) -> Result<u64> {
        let batches = self.nonempty(batches);
        let _guard = self.quiesce().await?;
        if rows > 0 && !self.inner.constraints.keys.is_empty() {
            self.check_unique(&batches).await?;
        }
        let base = self.current().delta.table.clone();
        let table = base
            .write(batches)
            .with_save_mode(SaveMode::Append)
            .with_commit_properties(commit_properties(progress))
            .await?;
        self.publish(Self::version_of(table).await?);
        Ok(rows as u64)
    }

    /// Refuse `batches` if a value of one of the table's keys (PRIMARY KEY,
    /// UNIQUE) comes twice in them or is stored already (23505, with
    /// PostgreSQL's message and DETAIL). Runs under the writer lock, so no
    /// other commit slips in between.
    async fn check_unique(&self, batches: &[RecordBatch]) -> Result<()> {
        let current = self.provider_of(&self.current());
        self.check_unique_in(&current, batches).await
    }

    /// [`DurableTable::check_unique`] against the rows `current` reads.
    async fn check_unique_in(
        &self,
        current: &Arc<dyn TableProvider>,
        batches: &[RecordBatch],
    ) -> Result<()> {
        for key in &self.inner.constraints.keys {
            self.check_key_in(current, batches, key).await?;
        }
        Ok(())
    }

    /// [`DurableTable::check_unique_in`] for one key. Rows whose key has a
    /// NULL take no part when the key's NULLs are distinct.
    ///
    /// The stored rows are found by the batch's key values (an IN list, or
    /// a disjunction per row for a key of several columns), which Parquet
    /// statistics prune whole files and row groups with; more than
    /// [`LOOKUP_ROWS`] keys (a COPY) are found by one hash join of the
    /// table's key columns with them, or, for a key of one integer column,
    /// by one read of that column against a hash set of the new keys
    /// (storage::integer_keys). Either way the table is read at most once
    /// per statement, never once per row.
    async fn check_key_in(
        &self,
        current: &Arc<dyn TableProvider>,
        batches: &[RecordBatch],
        key: &UniqueKey,
    ) -> Result<()> {
        let key_index = self.key_index(&key.columns)?;
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        if let [column] = key_index[..]
            && rows > LOOKUP_ROWS
            && super::integer_keys::applies(self.inner.schema.field(column).data_type())
        {
            let ctx = datafusion::prelude::SessionContext::new_with_state(
                scan_session().as_ref().clone(),
            );
            let found =
                super::integer_keys::first_duplicate(current, batches, column, key, &ctx).await?;
            return match found {
                Some((values, row)) => Err(key.violation(&[values], row)),
                None => Ok(()),
            };
        }
        let mut seen: HashSet<Vec<u8>> = HashSet::new();
        let mut candidates = Vec::with_capacity(batches.len());
        for batch in batches.iter().filter(|b| b.num_rows() > 0) {
            let columns: Vec<ArrayRef> =
                key_index.iter().map(|i| batch.column(*i).clone()).collect();
            let rows = key_rows(&columns)?;
            let mut keep: Vec<u32> = Vec::with_capacity(batch.num_rows());
            for i in 0..batch.num_rows() {
                if key.nulls_distinct && columns.iter().any(|c| c.is_null(i)) {
                    continue;
                }
                if !seen.insert(rows.row(i).data().to_vec()) {
                    return Err(key.violation(&columns, i));
                }
                keep.push(i as u32);
            }
            if keep.len() == batch.num_rows() {
                candidates.push(batch.clone());
            } else if !keep.is_empty() {
                candidates.push(take_record_batch(batch, &UInt32Array::from(keep))?);
            }
        }
        let rows: usize = candidates.iter().map(RecordBatch::num_rows).sum::<usize>();
        let has_nulls = candidates
            .iter()
            .any(|b| key_index.iter().any(|i| b.column(*i).null_count() > 0));
        if rows > LOOKUP_ROWS && !has_nulls {
            // Many keys (a COPY, a large INSERT … SELECT): one hash join of
            // the stored keys with them, instead of a scan per batch.
            let found = Self::stored_keys_joined(current, &candidates, &key.columns).await?;
            if let Some(b) = found.iter().find(|b| b.num_rows() > 0) {
                return Err(key.violation(b.columns(), 0));
            }
            return Ok(());
        }
        for batch in &candidates {
            let found =
                Self::stored_keys(current, batch, &key.columns, &key_index, Some(1)).await?;
            if let Some(b) = found.iter().find(|b| b.num_rows() > 0) {
                return Err(key.violation(b.columns(), 0));
            }
        }
        Ok(())
    }

    /// The first stored key of `current` that one of `batches` also has,
    /// found by a hash join of the stored keys with the batches' keys.
    async fn stored_keys_joined(
        current: &Arc<dyn TableProvider>,
        batches: &[RecordBatch],
        key: &[String],
    ) -> Result<Vec<RecordBatch>> {
        let ctx =
            datafusion::prelude::SessionContext::new_with_state(scan_session().as_ref().clone());
        let column = |name: &str| Expr::Column(datafusion::common::Column::new_unqualified(name));
        let names: Vec<&str> = key.iter().map(String::as_str).collect();
        // The new keys under names of their own, so the join's sides differ.
        let proposed_names: Vec<String> = key.iter().map(|k| format!("brook_new_{k}")).collect();
        let proposed_refs: Vec<&str> = proposed_names.iter().map(String::as_str).collect();
        let proposed = ctx.read_batches(batches.iter().cloned())?.select(
            key.iter()
                .zip(&proposed_names)
                .map(|(k, name)| column(k).alias(name))
                .collect::<Vec<_>>(),
        )?;
        let found = ctx
            .read_table(current.clone())?
            .select_columns(&names)?
            .join(
                proposed,
                datafusion::common::JoinType::LeftSemi,
                &names,
                &proposed_refs,
                None,
            )?
            .limit(0, Some(1))?;
        Ok(found.collect().await?)
    }

    /// Positions of the `key` columns in the table's schema.
    fn key_index(&self, key: &[String]) -> Result<Vec<usize>> {
        key.iter()
            .map(|k| {
                self.inner
                    .schema
                    .index_of(k)
                    .map_err(|_| BrookError::UndefinedColumn {
                        table: self.inner.name.clone(),
                        column: k.clone(),
                    })
            })
            .collect()
    }

    /// The key columns of `version`'s rows whose keys `batch` also has (at
    /// most `limit` of them).
    async fn stored_keys(
        version: &Arc<dyn TableProvider>,
        batch: &RecordBatch,
        key: &[String],
        key_index: &[usize],
        limit: Option<usize>,
    ) -> Result<Vec<RecordBatch>> {
        let ctx =
            datafusion::prelude::SessionContext::new_with_state(scan_session().as_ref().clone());
        let mut found = ctx
            .read_table(version.clone())?
            .filter(keys_predicate(batch, key, key_index)?)?
            .select_columns(&key.iter().map(String::as_str).collect::<Vec<_>>())?;
        if limit.is_some() {
            found = found.limit(0, limit)?;
        }
        Ok(found.collect().await?)
    }

    /// Write `batch` as one commit where rows are identified by the `key`
    /// columns (a PRIMARY KEY): with `replace`, a row replaces the stored row
    /// with its key (and the last of several in the batch wins); otherwise a
    /// row whose key is stored, or came earlier in the batch, is dropped.
    /// `progress` is committed with the rows as in [`DurableTable::append`].
    pub async fn write_keyed(
        &self,
        batch: RecordBatch,
        key: &[String],
        replace: bool,
        progress: Vec<Transaction>,
    ) -> Result<KeyedWrite> {
        let mut conformed = self.conform(vec![batch])?;
        let batch = conformed
            .pop()
            .ok_or_else(|| BrookError::Storage("no batch to write".into()))?;
        let key_index = self.key_index(key)?;
        let _guard = self.quiesce().await?;
        let current = self.current();
        let stored = if replace || batch.num_rows() == 0 {
            HashSet::new()
        } else {
            let provider = self.provider_of(&current);
            let found = Self::stored_keys(&provider, &batch, key, &key_index, None).await?;
            let mut stored = HashSet::new();
            for b in &found {
                let columns: Vec<ArrayRef> = b.columns().to_vec();
                for row in key_rows(&columns)?.iter() {
                    stored.insert(row.as_ref().to_vec());
                }
            }
            stored
        };
        let columns: Vec<ArrayRef> = key_index.iter().map(|i| batch.column(*i).clone()).collect();
        let rows = key_rows(&columns)?;
        let mut seen: HashSet<&[u8]> = HashSet::new();
        let mut keep: Vec<u32> = Vec::with_capacity(batch.num_rows());
        if replace {
            for i in (0..batch.num_rows()).rev() {
                if seen.insert(rows.row(i).data()) {
                    keep.push(i as u32);
                }
            }
            keep.reverse();
        } else {
            for i in 0..batch.num_rows() {
                let row = rows.row(i).data();
                if !stored.contains(row) && seen.insert(row) {
                    keep.push(i as u32);
                }
            }
        }
        let skipped = (batch.num_rows() - keep.len()) as u64;
        let batch = take_record_batch(&batch, &UInt32Array::from(keep))?;
        let written = batch.num_rows() as u64;
        if written == 0 && progress.is_empty() {
            return Ok(KeyedWrite { written, skipped });
        }
        let base = current.delta.table.clone();
        let write = if replace && written > 0 {
            base.write(vec![batch.clone()])
                .with_save_mode(SaveMode::Overwrite)
                .with_replace_where(keys_predicate(&batch, key, &key_index)?)
        } else {
            base.write(self.nonempty(vec![batch]))
                .with_save_mode(SaveMode::Append)
        };
        let table = write
            .with_commit_properties(commit_properties(progress))
            .await?;
        self.publish(Self::version_of(table).await?);
        Ok(KeyedWrite { written, skipped })
    }

    /// Replace the rows matching `predicate` with `batch` (which must match
    /// it too) in one commit, with `progress`.
    pub async fn replace_where(
        &self,
        batch: RecordBatch,
        predicate: Expr,
        progress: Vec<Transaction>,
    ) -> Result<()> {
        let batch = self
            .conform(vec![batch])?
            .pop()
            .ok_or_else(|| BrookError::Storage("no batch to write".into()))?;
        let _guard = self.quiesce().await?;
        let base = self.current().delta.table.clone();
        let table = base
            .write(self.nonempty(vec![batch]))
            .with_save_mode(SaveMode::Overwrite)
            .with_replace_where(predicate)
            .with_commit_properties(commit_properties(progress))
            .await?;
        self.publish(Self::version_of(table).await?);
        Ok(())
    }

    /// The last version an application transaction recorded (a pipeline's
    /// next offset for one partition), as of the published snapshot.
    pub async fn progress(&self, app_id: &str) -> Result<Option<i64>> {
        let version = self.current();
        if let Some(latest) = version.memtable.progress(app_id) {
            return Ok(Some(latest));
        }
        let state = version.delta.table.snapshot()?;
        Ok(state
            .transaction_version(version.delta.table.log_store().as_ref(), app_id)
            .await?)
    }

    /// Remove every row in one commit (older snapshots stay readable until vacuumed).
    pub async fn truncate(&self) -> Result<()> {
        self.rewrite(None, Change::Delete).await.map(|_| ())
    }

    /// Delete the rows matching `predicate` (all rows when `None`) in one
    /// commit. Returns how many rows were deleted.
    pub async fn delete_where(&self, predicate: Option<Expr>) -> Result<u64> {
        self.rewrite(predicate, Change::Delete).await
    }

    /// Set `assignments` on the rows matching `predicate` in one commit.
    pub async fn update_where(
        &self,
        assignments: Vec<(String, Expr)>,
        predicate: Option<Expr>,
    ) -> Result<u64> {
        let checked = self.checked_assignments(assignments)?;
        self.rewrite(predicate, Change::Update(checked))
            .await
            .map_err(length_error)
    }

    /// `assignments` refused when they break a rule known before any row
    /// is read, with length checks wrapped around `varchar(n)` values.
    fn checked_assignments(&self, assignments: Vec<(String, Expr)>) -> Result<Vec<(String, Expr)>> {
        let mut checked = Vec::with_capacity(assignments.len());
        for (column, value) in assignments {
            let Ok(field) = self.inner.schema.field_with_name(&column) else {
                return Err(BrookError::UndefinedColumn {
                    table: self.inner.name.clone(),
                    column,
                });
            };
            if !field.is_nullable() && matches!(&value, Expr::Literal(v, _) if v.is_null()) {
                return Err(BrookError::NotNullViolation {
                    table: self.inner.name.clone(),
                    column,
                });
            }
            let constraints = &self.inner.constraints;
            let max_chars = constraints
                .lengths
                .iter()
                .find(|l| l.column == column)
                .map(|l| l.max_chars);
            let text_type = self
                .inner
                .schema
                .index_of(&column)
                .ok()
                .and_then(|i| self.text_type(i));
            let value = constraints::checked_text(value, max_chars, text_type);
            checked.push((column, value));
        }
        Ok(checked)
    }

    /// `change` the rows matching `predicate` as one commit, copy-on-write
    /// over the units that hold them (`storage::rewrite`): one log record
    /// that removes those units and adds what they become. Returns the rows
    /// changed. A rewrite of more Delta data than [`LARGE_REWRITE_BYTES`]
    /// is streamed by Delta itself instead, after a flush.
    async fn rewrite(&self, predicate: Option<Expr>, change: Change) -> Result<u64> {
        let _writer = self.inner.writer.lock().await;
        let _gate = self.inner.gate.write().await;
        self.ensure_live()?;
        let version = self.current();
        let source = self.source_of(&version)?;
        let Some(touched) = source.affected(predicate.as_ref(), &change).await? else {
            return Ok(0);
        };
        // Delta's own UPDATE would write rows no CHECK constraint and no
        // key check has seen.
        let keys = self.keys_updated_by(&change);
        let delta_may_write = !matches!(change, Change::Update(_))
            || (self.inner.constraints.checks.is_empty() && keys.is_empty());
        let Some(attached) = self.inner.log.get() else {
            if !delta_may_write {
                return Err(BrookError::Internal(format!(
                    "table \"{}\" has CHECK constraints and no commit log to update it through",
                    self.inner.name
                )));
            }
            self.flush_view(version).await?;
            return self.rewrite_in_delta(predicate, change).await;
        };
        if touched.file_bytes >= LARGE_REWRITE_BYTES && delta_may_write {
            self.flush_view(version).await?;
            return self.rewrite_in_delta(predicate, change).await;
        }
        let rewrite = source.rewrite(touched, predicate.as_ref(), &change).await?;
        let rows = self.conform(rewrite.rows)?;
        let batch = datafusion::arrow::compute::concat_batches(&self.inner.schema, &rows)?;
        if !keys.is_empty() && batch.num_rows() > 0 {
            // The rewritten units against the rest of the table.
            let rest = self
                .provider_with(
                    &version,
                    &rewrite.removed_files.iter().cloned().collect(),
                    &rewrite.removed_commits.iter().copied().collect(),
                    &[],
                )
                .await?;
            for key in keys {
                self.check_key_in(&rest, std::slice::from_ref(&batch), key)
                    .await?;
            }
        }
        let removal = self
            .prepare_removal(&version, &rewrite.removed_files, &rewrite.removed_commits)
            .await?;
        let record = CommitRecord {
            changes: vec![TableChange {
                table: attached.id.clone(),
                rows: (batch.num_rows() > 0).then(|| batch.clone()),
                progress: vec![],
                removed_files: rewrite.removed_files,
                removed_commits: rewrite.removed_commits,
            }],
            catalog: None,
        };
        let durable = attached.log.append(&record).await?;
        self.publish_removal(
            Entry {
                lsn: durable.lsn,
                rows: batch,
                progress: vec![],
                at: std::time::Instant::now(),
            },
            removal,
        );
        Ok(rewrite.matched)
    }

    /// The keys an UPDATE's assignments change a column of: their
    /// uniqueness is checked again over the rewritten rows.
    fn keys_updated_by(&self, change: &Change) -> Vec<&UniqueKey> {
        let Change::Update(assignments) = change else {
            return vec![];
        };
        self.inner
            .constraints
            .keys
            .iter()
            .filter(|k| assignments.iter().any(|(c, _)| k.columns.contains(c)))
            .collect()
    }

    /// What a rewrite reads of `version`.
    fn source_of(&self, version: &Version) -> Result<Source> {
        Ok(Source {
            schema: self.inner.schema.clone(),
            delta: version.delta.table.clone(),
            live_files: Self::live_ids(version, &HashSet::new())?,
            commits: version.live_commits(),
        })
    }

    /// [`DurableTable::rewrite`] as one Delta commit (Delta streams it): a
    /// large rewrite, or one before the table has a log. The caller holds
    /// the writer lock and the gate and has flushed.
    async fn rewrite_in_delta(&self, predicate: Option<Expr>, change: Change) -> Result<u64> {
        let current = self.current();
        match change {
            Change::Delete => {
                let matched = self.count_matching(&current, predicate.clone()).await?;
                // Delta plans its own delete and update (they need its
                // planner extensions), so they run in a session of its making.
                let mut delete = current
                    .delta
                    .table
                    .clone()
                    .delete()
                    .with_commit_properties(commit_properties(Vec::new()));
                if let Some(p) = predicate {
                    delete = delete.with_predicate(p);
                }
                let (table, _metrics) = delete.await?;
                self.publish(Self::version_of(table).await?);
                Ok(matched)
            }
            Change::Update(assignments) => {
                let mut update = current
                    .delta
                    .table
                    .clone()
                    .update()
                    .with_commit_properties(commit_properties(Vec::new()));
                if let Some(p) = predicate {
                    update = update.with_predicate(p);
                }
                for (column, value) in assignments {
                    update = update.with_update(column, value);
                }
                let (table, metrics) = update.await?;
                self.publish(Self::version_of(table).await?);
                Ok(metrics.num_updated_rows as u64)
            }
        }
    }

    async fn count_matching(&self, version: &Version, predicate: Option<Expr>) -> Result<u64> {
        let ctx =
            datafusion::prelude::SessionContext::new_with_state(scan_session().as_ref().clone());
        let mut df = ctx.read_table(self.provider_of(version))?;
        if let Some(p) = predicate {
            df = df.filter(p)?;
        }
        Ok(df.count().await? as u64)
    }

    /// Rewrite small files into larger ones; a no-op commit-wise when there is nothing to merge.
    pub async fn compact(&self) -> Result<u64> {
        if self.inner.pins.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            // An open transaction removed some of these files.
            return Ok(0);
        }
        let _guard = self.inner.writer.lock().await;
        // Merging a hidden file would bring its removed rows back.
        let version = self.current();
        if !version.hidden.is_empty() {
            let _gate = self.inner.gate.write().await;
            self.flush_view(self.current()).await?;
        }
        let base = self.current().delta.table.clone();
        let (table, metrics) = base
            .optimize()
            .with_target_size(COMPACTED_FILE_BYTES)
            .with_commit_properties(commit_properties(Vec::new()))
            .await?;
        let removed = metrics.num_files_removed;
        if removed > 0 {
            self.publish(Self::version_of(table).await?);
        }
        Ok(removed)
    }

    /// Delete the log entries older than `retention` that the latest
    /// checkpoint makes redundant. Delta lists its whole log directory when
    /// it commits, so a log that only grows (a pipeline commits up to 20
    /// times a second) makes every commit slower; Brook reads no old
    /// versions (no time travel), so a short retention costs nothing.
    pub async fn clean_log(&self, retention: std::time::Duration) -> Result<usize> {
        let _guard = self.inner.writer.lock().await;
        let current = self.current().delta.clone();
        let Some(version) = current.table.version() else {
            return Ok(0);
        };
        let cutoff = std::time::SystemTime::now()
            .checked_sub(retention)
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Ok(deltalake::protocol::checkpoints::cleanup_expired_logs_for(
            version,
            current.table.log_store().as_ref(),
            cutoff,
            None,
        )
        .await?)
    }

    /// The rows added by the commits after version `since` up to the current
    /// one (files with `dataChange`), for a model that learns from new rows.
    /// `None` when it cannot be told: a commit of that range was already
    /// cleaned from the log, or one rewrote or removed rows (DELETE,
    /// UPDATE, a keyed write), so "new rows" would be wrong.
    /// Returns the version read up to with the rows.
    pub async fn rows_added_since(&self, since: u64) -> Result<Option<(u64, RecordBatch)>> {
        self.flush().await?;
        let current = self.current().delta.clone();
        let Some(latest) = current.table.version() else {
            return Ok(None);
        };
        let base = table_url(&self.inner.dir)?;
        let mut files = vec![];
        for version in since + 1..=latest {
            let Some(bytes) = current.table.log_store().read_commit_entry(version).await? else {
                return Ok(None);
            };
            for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                let action: serde_json::Value = serde_json::from_slice(line)
                    .map_err(|e| BrookError::Storage(format!("commit {version}: {e}")))?;
                if let Some(remove) = action.get("remove")
                    && remove.get("dataChange").and_then(|d| d.as_bool()) != Some(false)
                {
                    return Ok(None);
                }
                if let Some(add) = action.get("add")
                    && add.get("dataChange").and_then(|d| d.as_bool()) != Some(false)
                    && let Some(path) = add.get("path").and_then(|p| p.as_str())
                {
                    let file = base
                        .join(path)
                        .ok()
                        .and_then(|u| u.to_file_path().ok())
                        .ok_or_else(|| BrookError::Storage(format!("bad file path {path}")))?;
                    files.push(file);
                }
            }
        }
        let schema = self.inner.schema.clone();
        let mut batches = vec![];
        for file in files {
            let reader =
                datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                    std::fs::File::open(&file)?,
                )
                .and_then(|b| b.build())
                .map_err(|e| BrookError::Storage(format!("{}: {e}", file.display())))?;
            for batch in reader {
                let batch = batch?;
                let columns = schema
                    .fields()
                    .iter()
                    .map(|f| {
                        let column = batch.column_by_name(f.name()).ok_or_else(|| {
                            BrookError::Storage(format!(
                                "{}: no column {}",
                                file.display(),
                                f.name()
                            ))
                        })?;
                        Ok(datafusion::arrow::compute::cast(column, f.data_type())?)
                    })
                    .collect::<Result<Vec<ArrayRef>>>()?;
                batches.push(RecordBatch::try_new(schema.clone(), columns)?);
            }
        }
        Ok(Some((
            latest,
            datafusion::arrow::compute::concat_batches(&schema, &batches)?,
        )))
    }

    /// How many data files the current version has: the compactor's trigger.
    pub fn file_count(&self) -> usize {
        self.current()
            .delta
            .table
            .snapshot()
            .map(|s| s.log_data().num_files())
            .unwrap_or(0)
    }

    /// The batches with rows, or one empty batch: Delta's writer needs an
    /// input even for a commit that only records progress or removes rows.
    fn nonempty(&self, batches: Vec<RecordBatch>) -> Vec<RecordBatch> {
        let batches: Vec<RecordBatch> = batches.into_iter().filter(|b| b.num_rows() > 0).collect();
        if batches.is_empty() {
            vec![RecordBatch::new_empty(self.inner.schema.clone())]
        } else {
            batches
        }
    }

    /// Check nullability and cast each batch to the table's schema so that a
    /// wrong row is refused with the Postgres message before anything is written.
    fn conform(&self, batches: Vec<RecordBatch>) -> Result<Vec<RecordBatch>> {
        let schema = &self.inner.schema;
        batches
            .into_iter()
            .map(|batch| {
                if batch.num_columns() != schema.fields().len() {
                    return Err(BrookError::Storage(format!(
                        "a batch with {} columns cannot be written to \"{}\", which has {}",
                        batch.num_columns(),
                        self.inner.name,
                        schema.fields().len()
                    )));
                }
                let mut columns = Vec::with_capacity(batch.num_columns());
                for (field, column) in schema.fields().iter().zip(batch.columns()) {
                    if !field.is_nullable() && column.logical_null_count() > 0 {
                        return Err(BrookError::NotNullViolation {
                            table: self.inner.name.clone(),
                            column: field.name().clone(),
                        });
                    }
                    let column = if column.data_type() == field.data_type() {
                        column.clone()
                    } else {
                        datafusion::arrow::compute::cast(column, field.data_type()).map_err(
                            |e| {
                                BrookError::InvalidText(format!("column \"{}\": {e}", field.name()))
                            },
                        )?
                    };
                    columns.push(column);
                }
                for length in &self.inner.constraints.lengths {
                    if let Some(column) = columns.get_mut(length.index) {
                        *column = constraints::conform_length(column, length.max_chars)?;
                    }
                }
                for (index, kind) in &self.inner.constraints.text_types {
                    if let Some(column) = columns.get_mut(*index) {
                        *column = constraints::conform_text(column, *kind)?;
                    }
                }
                let batch = RecordBatch::try_new(schema.clone(), columns)
                    .map_err(|e| BrookError::Storage(e.to_string()))?;
                constraints::check_rows(&self.inner.name, &self.inner.constraints.checks, &batch)?;
                Ok(batch)
            })
            .collect()
    }
}

#[async_trait]
impl TableProvider for DurableTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn get_column_default(&self, column: &str) -> Option<&Expr> {
        self.inner.defaults.get(column)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let provider = match SessionTransaction::of(state.config()).and_then(|s| s.view(self)) {
            Some(private) => self.private_provider(&private).await?,
            None => self.provider_of(&self.current()),
        };
        provider.scan(state, projection, filters, limit).await
    }

    /// [`super::scan::never_exact`], as a version's scan answers.
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        super::scan::never_exact(self.current().delta.provider.as_ref(), filters)
    }

    async fn delete_from(
        &self,
        state: &dyn Session,
        filters: Vec<Expr>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        super::dml::plan(
            self.clone(),
            SessionTransaction::of(state.config()),
            super::dml::Change::Delete,
            filters,
        )
    }

    async fn update(
        &self,
        state: &dyn Session,
        assignments: Vec<(String, Expr)>,
        filters: Vec<Expr>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        super::dml::plan(
            self.clone(),
            SessionTransaction::of(state.config()),
            super::dml::Change::Update(assignments),
            filters,
        )
    }

    async fn insert_into(
        &self,
        state: &dyn Session,
        input: Arc<dyn ExecutionPlan>,
        insert_op: InsertOp,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if insert_op != InsertOp::Append {
            return Err(BrookError::Unsupported(format!("{insert_op} into a table")).into());
        }
        // The sink accepts nulls everywhere so that NOT NULL is checked by
        // `conform`, which names the table and column as Postgres does.
        let relaxed = Schema::new(
            self.inner
                .schema
                .fields()
                .iter()
                .map(|f| Field::new(f.name(), f.data_type().clone(), true))
                .collect::<Vec<_>>(),
        );
        let sink = TableSink {
            table: self.clone(),
            session: SessionTransaction::of(state.config()),
            schema: Arc::new(relaxed),
        };
        Ok(Arc::new(DataSinkExec::new(input, Arc::new(sink), None)))
    }
}

/// Collects an `INSERT`'s rows and writes them as one commit.
struct TableSink {
    table: DurableTable,
    /// The session's transaction slot: rows go there while one is open.
    session: Option<Arc<SessionTransaction>>,
    schema: SchemaRef,
}

impl fmt::Debug for TableSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TableSink({})", self.table.name())
    }
}

impl DisplayAs for TableSink {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DurableTableSink: table={}", self.table.name())
    }
}

#[async_trait]
impl DataSink for TableSink {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    async fn write_all(
        &self,
        data: SendableRecordBatchStream,
        _context: &Arc<TaskContext>,
    ) -> DfResult<u64> {
        let batches: Vec<RecordBatch> = data.try_collect().await?;
        self.table
            .append_in(self.session.as_deref(), batches)
            .await
            .map_err(DataFusionError::from)
    }
}

/// What [`DurableTable::write_keyed`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyedWrite {
    pub written: u64,
    /// Rows not written: duplicates in the batch, or (without replace) keys already stored.
    pub skipped: u64,
}

/// Comparable byte strings of the key columns, one per row.
fn key_rows(columns: &[ArrayRef]) -> Result<Rows> {
    let fields = columns
        .iter()
        .map(|c| SortField::new(c.data_type().clone()))
        .collect();
    let converter = RowConverter::new(fields)?;
    Ok(converter.convert_columns(columns)?)
}

/// `key IN (the batch's keys)`: one IN list for a single-column key, a
/// balanced OR of conjunctions for a composite one (balanced so that the
/// expression tree stays shallow however large the batch).
/// Up to this many keys, a key check looks them up by value (an IN list
/// that Parquet statistics prune files with); beyond it, by a hash join.
const LOOKUP_ROWS: usize = 1024;

fn keys_predicate(batch: &RecordBatch, key: &[String], key_index: &[usize]) -> Result<Expr> {
    let column = |name: &str| Expr::Column(datafusion::common::Column::new_unqualified(name));
    let value = |index: usize, row: usize| -> Result<Expr> {
        Ok(Expr::Literal(
            ScalarValue::try_from_array(batch.column(index), row)?,
            None,
        ))
    };
    // A NULL in a key matches a stored NULL (a key whose NULLs are not
    // distinct; other keys' NULL rows never come here).
    let matches = |name: &str, index: usize, row: usize| -> Result<Expr> {
        if batch.column(index).is_null(row) {
            Ok(column(name).is_null())
        } else {
            Ok(column(name).eq(value(index, row)?))
        }
    };
    if let [only] = key_index {
        let values = (0..batch.num_rows())
            .filter(|row| batch.column(*only).is_valid(*row))
            .map(|row| value(*only, row))
            .collect::<Result<Vec<_>>>()?;
        let listed = column(&key[0]).in_list(values, false);
        return Ok(if batch.column(*only).null_count() > 0 {
            listed.or(column(&key[0]).is_null())
        } else {
            listed
        });
    }
    let mut terms = (0..batch.num_rows())
        .map(|row| {
            key.iter()
                .zip(key_index)
                .map(|(name, index)| matches(name, *index, row))
                .reduce(|a: Result<Expr>, b| Ok(a?.and(b?)))
                .unwrap_or_else(|| Ok(lit(false)))
        })
        .collect::<Result<Vec<_>>>()?;
    if terms.is_empty() {
        return Ok(lit(false));
    }
    while terms.len() > 1 {
        let mut next = Vec::with_capacity(terms.len().div_ceil(2));
        let mut pairs = terms.into_iter();
        while let Some(a) = pairs.next() {
            next.push(match pairs.next() {
                Some(b) => a.or(b),
                None => a,
            });
        }
        terms = next;
    }
    Ok(terms.pop().unwrap_or_else(|| lit(false)))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::DataType;

    use super::*;

    fn log_entries(dir: &Path) -> usize {
        std::fs::read_dir(dir.join("_delta_log"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".json")
            })
            .count()
    }

    /// A crash after a flush removed the rewritten files from Delta and
    /// before its commit of the rows: replay puts them back, once.
    #[tokio::test]
    async fn a_crash_between_the_two_commits_of_a_flush_loses_nothing() {
        let data = tempfile::tempdir().unwrap();
        let dir = data.path().join("tables/000001_public_t");
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let open = |create: bool| {
            let (dir, schema, data) = (dir.clone(), schema.clone(), data.path().to_path_buf());
            async move {
                let table = if create {
                    DurableTable::create(&dir, "t", schema, HashMap::new(), Default::default())
                        .await
                } else {
                    DurableTable::open(&dir, "t", schema, HashMap::new(), Default::default()).await
                }
                .unwrap();
                let log = crate::storage::recovery::recover(&data, std::slice::from_ref(&table))
                    .await
                    .unwrap();
                (table, log)
            }
        };
        let (table, log) = open(true).await;
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(vec![1, 2, 3]))],
        )
        .unwrap();
        table.append(vec![batch], vec![]).await.unwrap();
        table.flush().await.unwrap();
        table
            .delete_where(Some(
                datafusion::prelude::col("n").eq(datafusion::prelude::lit(2i64)),
            ))
            .await
            .unwrap();
        // The first half of a flush, then the crash.
        table.remove_hidden(&table.current()).await.unwrap();
        drop((table, log));
        let (table, _log) = open(false).await;
        assert_eq!(
            crate::storage::recovery::tests::values(&table).await,
            vec![1, 3]
        );
        table.flush().await.unwrap();
        assert_eq!(
            crate::storage::recovery::tests::values(&table).await,
            vec![1, 3]
        );
    }

    #[tokio::test]
    async fn trimmed_log_keeps_rows_and_progress() {
        let dir = tempfile::tempdir().unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        let table = DurableTable::create(
            dir.path(),
            "t",
            schema.clone(),
            HashMap::new(),
            Default::default(),
        )
        .await
        .unwrap();
        for i in 0..120i64 {
            let batch =
                RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![i]))])
                    .unwrap();
            table
                .append(vec![batch], vec![Transaction::new("app", i + 1)])
                .await
                .unwrap();
        }
        // Versions 0 (create) to 120; Delta checkpointed version 99.
        assert_eq!(log_entries(dir.path()), 121);
        assert_eq!(table.clean_log(Duration::ZERO).await.unwrap(), 99);
        assert_eq!(log_entries(dir.path()), 22);

        let reopened =
            DurableTable::open(dir.path(), "t", schema, HashMap::new(), Default::default())
                .await
                .unwrap();
        assert_eq!(reopened.version(), Some(120));
        assert_eq!(reopened.progress("app").await.unwrap(), Some(120));
        let ctx = datafusion::prelude::SessionContext::new();
        let rows = ctx
            .read_table(reopened.current().delta.provider.clone())
            .unwrap()
            .count()
            .await
            .unwrap();
        assert_eq!(rows, 120);
    }
}
