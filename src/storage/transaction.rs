//! Multi-statement transactions: `BEGIN … COMMIT` over any number of
//! tables, one write-ahead log record at COMMIT (docs/transactions.md).
//!
//! A session's transaction takes, at its first statement, the published
//! version of every table under one read lock, so it reads a cut between
//! commits (snapshot isolation, PostgreSQL's REPEATABLE READ). Its writes
//! never touch a shared table until COMMIT: each table it writes gets a
//! private version ([`Private`]) that reads as the snapshot plus the
//! transaction's own changes: rows added, units removed, exactly what an
//! autocommit statement would have logged. COMMIT locks the tables it
//! changed in one order, checks that every unit it removed is still there
//! (else 40001: another commit changed those rows first), writes one log
//! record for all of them and publishes them together. ROLLBACK drops the
//! private versions; a disconnect does the same.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use datafusion::arrow::array::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::prelude::SessionConfig;

use super::DurableTable;
use super::commit::CommitLog;
use crate::error::{BrookError, Result};

/// Held shared to take a snapshot, exclusively to publish a commit that
/// changes several tables: a snapshot sees all of such a commit or none.
static PUBLISH: RwLock<()> = RwLock::new(());

pub(super) fn publishing() -> std::sync::RwLockWriteGuard<'static, ()> {
    match PUBLISH.write() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn snapshotting() -> std::sync::RwLockReadGuard<'static, ()> {
    match PUBLISH.read() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Ids of a transaction's own (uncommitted) row batches: above every LSN
/// a log will ever hand out, so they never meet a committed one.
pub(super) const PRIVATE_IDS: u64 = 1 << 63;

/// One table as a transaction sees it: its version at the snapshot and
/// the transaction's changes to it.
#[derive(Clone)]
pub struct Private {
    pub(super) table: DurableTable,
    pub(super) base: Arc<super::table::Version>,
    /// Rows the transaction added, by private id.
    pub(super) added: Vec<(u64, RecordBatch)>,
    /// Units of `base` it removed.
    pub(super) removed_files: HashSet<String>,
    pub(super) removed_commits: HashSet<u64>,
    /// Keeps the flusher from folding the commits this transaction removes
    /// into Delta files while it is open (which would fail its COMMIT).
    pub(super) pin: Option<Arc<super::table::Pin>>,
    /// An `ALTER TABLE` of the transaction copied the table as this view
    /// shows it into new files (see [`SessionTransaction::copied`]).
    pub(super) copied: bool,
    /// The statement that copied it keeps its writers out until COMMIT
    /// ([`DurableTable::hold_writes`]): COMMIT must not wait for that lock.
    pub(super) held: bool,
}

impl Private {
    fn changed(&self) -> bool {
        self.copied
            || !self.added.is_empty()
            || !self.removed_files.is_empty()
            || !self.removed_commits.is_empty()
    }
}

/// A schema change a transaction made (`CREATE TABLE`, `DROP TABLE`, a
/// view): what the session's own statements see of it until COMMIT, and
/// what the catalog logs and applies at COMMIT. Other sessions see nothing
/// of it before then. Storage keeps the changes in statement order with
/// the savepoints; only the catalog reads `change`.
#[derive(Clone)]
pub struct Staged {
    pub schema: String,
    pub name: String,
    /// What the name stands for in the session from now on: the relation
    /// created, or nothing (dropped).
    pub relation: Option<Arc<dyn TableProvider>>,
    /// The table it created, if it did: its files exist, but no catalog
    /// names them, so a crash leaves only files start-up sweeps away.
    pub created: Option<DurableTable>,
    /// The change in the catalog's encoding.
    pub change: serde_json::Value,
    /// Called when the change is discarded (ROLLBACK, ROLLBACK TO, a COMMIT
    /// that fails): removes what it made ahead (files, sequences).
    pub undo: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl Staged {
    fn discard(&self) {
        if let Some(undo) = &self.undo {
            undo();
        }
    }
}

/// The catalog's part of a COMMIT that changed the schema.
pub struct CatalogCommit<'a> {
    /// The log to write to when no table's rows changed.
    pub log: CommitLog,
    /// The schema changes, as the record carries them.
    pub bytes: Vec<u8>,
    /// Directories of the tables the transaction dropped: their rows are
    /// not written.
    pub dropped: HashSet<PathBuf>,
    /// Called with the record's LSN once it is durable, while the
    /// transaction's rows are published: makes the catalog's new state
    /// current (and durable in its own file).
    pub apply: &'a mut (dyn FnMut(u64) -> Result<()> + Send),
}

/// A transaction COMMIT has taken from its session.
pub struct Finished {
    changed: Vec<Private>,
    staged: Vec<Staged>,
}

impl Finished {
    /// The schema changes, in statement order.
    pub fn staged(&self) -> &[Staged] {
        &self.staged
    }

    /// Make it durable and visible, all of it or (with an error) none; a
    /// schema change comes with `catalog`.
    pub async fn commit(self, catalog: Option<CatalogCommit<'_>>) -> Result<()> {
        let dropped = catalog.as_ref().map(|c| &c.dropped);
        let gone = |p: &Private| dropped.is_some_and(|d| d.contains(p.table.dir()));
        let (gone, changed): (Vec<Private>, Vec<Private>) =
            self.changed.into_iter().partition(|p| gone(p));
        let replaced: Vec<Private> = gone.into_iter().filter(|p| p.copied).collect();
        let result = DurableTable::commit_transaction(changed, replaced, catalog).await;
        if result.is_err() {
            self.staged.iter().for_each(Staged::discard);
        }
        result
    }

    /// Forget it (a COMMIT refused before anything was written).
    pub fn discard(self) {
        self.staged.iter().for_each(Staged::discard);
    }
}

/// An open transaction.
#[derive(Default)]
pub struct Transaction {
    /// Every table's version at the first statement (by table directory).
    snapshot: Option<BTreeMap<PathBuf, Arc<super::table::Version>>>,
    /// The tables it read or wrote, by directory: COMMIT locks them in
    /// this order, so two commits never wait for each other in a cycle.
    tables: BTreeMap<PathBuf, Private>,
    /// Its schema changes, in statement order.
    staged: Vec<Staged>,
    /// Each savepoint: its name, the private versions and how many schema
    /// changes there were when it was set.
    savepoints: Vec<Savepoint>,
    next_id: u64,
    /// Every snapshot table, pinned while the transaction is open: a flush
    /// would fold the commits it read into Delta files, and its COMMIT
    /// could then no longer remove them (40001 for nothing).
    pins: Vec<Arc<super::table::Pin>>,
    /// A statement failed: until `ROLLBACK` (or `ROLLBACK TO` a savepoint)
    /// every statement is refused, and `COMMIT` rolls back.
    failed: bool,
}

struct Savepoint {
    name: String,
    tables: BTreeMap<PathBuf, Private>,
    staged: usize,
}

/// Where a session stands, as `ReadyForQuery` reports it to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockState {
    Idle,
    Open,
    Failed,
}

/// A session's slot for its transaction, shared by the session's query
/// context (tables find it in the `SessionConfig` a scan or a write is
/// planned with) and its protocol handlers.
#[derive(Default)]
pub struct SessionTransaction(Mutex<Option<Transaction>>);

/// A session that ends with a transaction open (a client that went away)
/// rolls it back: what it made ahead for its schema changes goes too.
impl Drop for SessionTransaction {
    fn drop(&mut self) {
        self.abort();
    }
}

impl std::fmt::Debug for SessionTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionTransaction")
            .field("state", &self.state())
            .finish()
    }
}

impl SessionTransaction {
    /// The slot a session's queries are planned with, if any.
    pub fn of(config: &SessionConfig) -> Option<Arc<SessionTransaction>> {
        config.get_extension::<SessionTransaction>()
    }

    /// The session's transaction, if `ctx` is a session's and one is open.
    pub fn open_in(ctx: &datafusion::prelude::SessionContext) -> Option<Arc<SessionTransaction>> {
        let slot = {
            let state = ctx.state_ref();
            let state = state.read();
            Self::of(state.config())
        }?;
        slot.is_open().then_some(slot)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Transaction>> {
        crate::locks::lock(&self.0)
    }

    /// Whether a transaction is open.
    pub fn is_open(&self) -> bool {
        self.lock().is_some()
    }

    /// Idle, in an open block, or in a failed one.
    pub fn state(&self) -> BlockState {
        match self.lock().as_ref() {
            None => BlockState::Idle,
            Some(txn) if txn.failed => BlockState::Failed,
            Some(_) => BlockState::Open,
        }
    }

    /// A statement of the open block failed (nothing outside a block).
    pub fn fail(&self) {
        if let Some(txn) = self.lock().as_mut() {
            txn.failed = true;
        }
    }

    /// `BEGIN`: open a transaction (its snapshot waits for its first statement).
    pub fn begin(&self) {
        let mut slot = self.lock();
        if slot.is_none() {
            *slot = Some(Transaction::default());
        }
    }

    /// Take the snapshot if the open transaction has none yet: its first
    /// statement is about to run. `tables` are all the server's tables.
    pub fn start_statement(&self, tables: impl FnOnce() -> Vec<DurableTable>) {
        let mut slot = self.lock();
        let Some(txn) = slot.as_mut() else {
            return;
        };
        if txn.snapshot.is_some() {
            return;
        }
        let tables = tables();
        txn.pins = tables.iter().map(DurableTable::pin).collect();
        let _cut = snapshotting();
        txn.snapshot = Some(
            tables
                .iter()
                .map(|t| (t.dir().to_path_buf(), t.current_version()))
                .collect(),
        );
    }

    /// `ROLLBACK`, or a session that ends: forget the open transaction.
    pub fn abort(&self) {
        let txn = self.lock().take();
        if let Some(txn) = txn {
            txn.staged.iter().for_each(Staged::discard);
        }
    }

    /// Record a schema change of the open transaction.
    pub fn stage(&self, staged: Staged) -> Result<()> {
        let mut slot = self.lock();
        let txn = slot
            .as_mut()
            .ok_or_else(|| BrookError::Storage("no transaction is open".into()))?;
        txn.staged.push(staged);
        Ok(())
    }

    /// What the open transaction's schema changes made of `schema.name`:
    /// `Some(Some(_))` created, `Some(None)` dropped, `None` untouched.
    pub fn staged_relation(
        &self,
        schema: &str,
        name: &str,
    ) -> Option<Option<Arc<dyn TableProvider>>> {
        self.latest(schema, name).map(|s| s.relation)
    }

    /// The table `schema.name` is in the open transaction when one of its
    /// schema changes names it: `Some(None)` when it dropped it (or made it a view).
    pub fn staged_table(&self, schema: &str, name: &str) -> Option<Option<DurableTable>> {
        self.latest(schema, name).map(|s| s.created)
    }

    /// The open transaction's schema changes in the catalog's encoding, in
    /// the order they were made (none outside a block).
    pub fn staged_changes(&self) -> Vec<serde_json::Value> {
        let slot = self.lock();
        slot.as_ref()
            .map(|txn| txn.staged.iter().map(|s| s.change.clone()).collect())
            .unwrap_or_default()
    }

    /// The names in `schema` the open transaction's schema changes touch,
    /// each with whether it exists after them.
    pub fn staged_names(&self, schema: &str) -> Vec<(String, bool)> {
        let slot = self.lock();
        let Some(txn) = slot.as_ref() else {
            return vec![];
        };
        let mut names: BTreeMap<&str, bool> = BTreeMap::new();
        for s in txn.staged.iter().filter(|s| s.schema == schema) {
            names.insert(&s.name, s.relation.is_some());
        }
        names
            .into_iter()
            .map(|(n, exists)| (n.to_string(), exists))
            .collect()
    }

    fn latest(&self, schema: &str, name: &str) -> Option<Staged> {
        let slot = self.lock();
        slot.as_ref()?
            .staged
            .iter()
            .rev()
            .find(|s| s.schema == schema && s.name == name)
            .cloned()
    }

    /// `COMMIT`: take the open transaction out of the session (it has
    /// ended, whatever the commit then answers). `None` outside one.
    pub fn finish(&self) -> Option<Finished> {
        let txn = self.lock().take()?;
        Some(Finished {
            changed: txn.tables.into_values().filter(Private::changed).collect(),
            staged: txn.staged,
        })
    }

    /// `table` as the open transaction sees it; `None` outside one.
    pub fn view(&self, table: &DurableTable) -> Option<Private> {
        let mut slot = self.lock();
        let txn = slot.as_mut()?;
        if let Some(private) = txn.tables.get(table.dir()) {
            return Some(private.clone());
        }
        // A table created after the snapshot is read as it is now.
        let base = txn
            .snapshot
            .as_ref()
            .and_then(|s| s.get(table.dir()).cloned())
            .unwrap_or_else(|| table.current_version());
        let private = Private {
            table: table.clone(),
            base,
            added: vec![],
            removed_files: HashSet::new(),
            removed_commits: HashSet::new(),
            pin: None,
            copied: false,
            held: false,
        };
        txn.tables
            .insert(table.dir().to_path_buf(), private.clone());
        Some(private)
    }

    /// Record that the open transaction copied `table`, as it sees it,
    /// into a table that replaces it (`ALTER TABLE`): its COMMIT fails
    /// with 40001 if another commit changed `table` since the snapshot.
    /// `held`: the caller holds the table's writers out until the COMMIT.
    pub fn copied(&self, table: &DurableTable, held: bool) {
        if let Some(mut private) = self.view(table) {
            private.copied = true;
            private.held = held;
            self.keep(private);
        }
    }

    /// Keep `private` as the transaction's view of its table.
    pub fn keep(&self, private: Private) {
        if let Some(txn) = self.lock().as_mut() {
            txn.tables
                .insert(private.table.dir().to_path_buf(), private);
        }
    }

    /// A fresh id for a batch of the transaction's own rows.
    pub fn next_id(&self) -> u64 {
        let mut slot = self.lock();
        match slot.as_mut() {
            Some(txn) => {
                txn.next_id += 1;
                PRIVATE_IDS + txn.next_id
            }
            None => PRIVATE_IDS,
        }
    }

    /// `SAVEPOINT name`.
    pub fn savepoint(&self, name: &str) -> Result<()> {
        let mut slot = self.lock();
        let txn = slot.as_mut().ok_or_else(no_transaction)?;
        let savepoint = Savepoint {
            name: name.to_string(),
            tables: txn.tables.clone(),
            staged: txn.staged.len(),
        };
        txn.savepoints.push(savepoint);
        Ok(())
    }

    /// `ROLLBACK TO SAVEPOINT name`: the changes since it are undone; it
    /// stays, and a block that failed after it is usable again.
    pub fn rollback_to(&self, name: &str) -> Result<()> {
        let mut slot = self.lock();
        let txn = slot.as_mut().ok_or_else(no_transaction)?;
        let at = find(&txn.savepoints, name)?;
        txn.savepoints.truncate(at + 1);
        txn.tables = txn.savepoints[at].tables.clone();
        let undone = txn.staged.split_off(txn.savepoints[at].staged);
        txn.failed = false;
        drop(slot);
        undone.iter().rev().for_each(Staged::discard);
        Ok(())
    }

    /// `RELEASE SAVEPOINT name`: it and the savepoints after it are forgotten,
    /// their changes kept.
    pub fn release(&self, name: &str) -> Result<()> {
        let mut slot = self.lock();
        let txn = slot.as_mut().ok_or_else(no_transaction)?;
        let at = find(&txn.savepoints, name)?;
        txn.savepoints.truncate(at);
        Ok(())
    }

    /// `COMMIT` of a transaction without schema changes: make its changes
    /// durable and visible, all of them or (with an error) none. The
    /// transaction ends either way.
    pub async fn commit(&self) -> Result<()> {
        match self.finish() {
            Some(finished) => finished.commit(None).await,
            None => Ok(()),
        }
    }
}

fn no_transaction() -> BrookError {
    BrookError::Unsupported("savepoints can only be used in transaction blocks".into())
}

fn find(savepoints: &[Savepoint], name: &str) -> Result<usize> {
    savepoints
        .iter()
        .rposition(|s| s.name == name)
        .ok_or_else(|| BrookError::UndefinedSavepoint(name.to_string()))
}
