//! A table inside a transaction (`storage::transaction`): reads of its
//! private version, appends and rewrites into it, and the commit of
//! several tables' private versions as one log record.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::logical_expr::Expr;

use super::{DurableTable, Entry, Pin, Version};
use crate::error::{BrookError, Result};
use crate::storage::commit::{CommitRecord, TableChange};
use crate::storage::rewrite::{Change, Source, file_ids};
use crate::storage::scan::VersionScan;
use crate::storage::transaction::{CatalogCommit, PRIVATE_IDS, Private, SessionTransaction};

impl DurableTable {
    /// Append `batches`: into the session's open transaction if it has
    /// one, else as a commit of its own.
    pub async fn append_in(
        &self,
        session: Option<&SessionTransaction>,
        batches: Vec<RecordBatch>,
    ) -> Result<u64> {
        match session {
            Some(s) if s.is_open() => self.private_append(s, batches).await,
            _ => self.append(batches, vec![]).await,
        }
    }

    /// `change` the rows matching `predicate`: in the session's open
    /// transaction if it has one, else as a commit of its own.
    pub async fn rewrite_in(
        &self,
        session: Option<&SessionTransaction>,
        predicate: Option<Expr>,
        change: Change,
    ) -> Result<u64> {
        match (session, change) {
            (Some(s), change) if s.is_open() => {
                let change = match change {
                    Change::Delete => Change::Delete,
                    Change::Update(assignments) => {
                        Change::Update(self.checked_assignments(assignments)?)
                    }
                };
                self.private_rewrite(s, predicate, change)
                    .await
                    .map_err(super::length_error)
            }
            (_, Change::Delete) => self.delete_where(predicate).await,
            (_, Change::Update(assignments)) => self.update_where(assignments, predicate).await,
        }
    }

    /// The live Delta file ids of `base` less `removed`, or `None` when that is all of them.
    pub(super) fn live_ids(
        base: &Version,
        removed: &HashSet<String>,
    ) -> Result<Option<Vec<String>>> {
        if base.hidden.is_empty() && removed.is_empty() {
            return Ok(None);
        }
        Ok(Some(
            file_ids(&base.delta.table)?
                .into_iter()
                .map(|(id, _)| id)
                .filter(|id| !base.hidden.contains(id) && !removed.contains(id))
                .collect(),
        ))
    }

    /// The unflushed commits `base` reads less `removed`, then `added`.
    fn commits_of(
        base: &Version,
        removed: &HashSet<u64>,
        added: &[(u64, RecordBatch)],
    ) -> Vec<(u64, RecordBatch)> {
        base.live_commits()
            .into_iter()
            .filter(|(lsn, _)| !removed.contains(lsn))
            .chain(added.iter().cloned())
            .collect()
    }

    /// A scan of `base` with the units `removed_*` gone and `added` in.
    pub(super) async fn provider_with(
        &self,
        base: &Version,
        removed_files: &HashSet<String>,
        removed_commits: &HashSet<u64>,
        added: &[(u64, RecordBatch)],
    ) -> Result<Arc<dyn TableProvider>> {
        let files = match Self::live_ids(base, removed_files)? {
            None => base.files.clone(),
            Some(_) if removed_files.is_empty() => base.files.clone(),
            Some(live) => self.live_files(&base.delta.table, live).await?,
        };
        let batches: Vec<RecordBatch> = Self::commits_of(base, removed_commits, added)
            .into_iter()
            .map(|(_, rows)| rows)
            .filter(|rows| rows.num_rows() > 0)
            .collect();
        if batches.is_empty() {
            return Ok(files);
        }
        let one = datafusion::arrow::compute::concat_batches(&self.inner.schema, &batches)?;
        Ok(Arc::new(VersionScan {
            schema: self.inner.schema.clone(),
            delta: files,
            memtable: vec![one],
        }))
    }

    /// What a transaction reads of this table.
    pub(super) async fn private_provider(&self, p: &Private) -> Result<Arc<dyn TableProvider>> {
        self.provider_with(&p.base, &p.removed_files, &p.removed_commits, &p.added)
            .await
    }

    /// Keep the flusher (below the memory limit) and compaction off this
    /// table while the pin lives.
    pub(in crate::storage) fn pin(&self) -> Arc<Pin> {
        self.inner
            .pins
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Arc::new(Pin(self.clone()))
    }

    async fn private_append(
        &self,
        session: &SessionTransaction,
        batches: Vec<RecordBatch>,
    ) -> Result<u64> {
        let mut p = session
            .view(self)
            .ok_or_else(|| BrookError::Storage("the transaction ended".into()))?;
        let batches = self.conform(batches)?;
        let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        if rows == 0 {
            return Ok(0);
        }
        let batch = datafusion::arrow::compute::concat_batches(&self.inner.schema, &batches)?;
        if !self.inner.constraints.keys.is_empty() {
            let view = self.private_provider(&p).await?;
            self.check_unique_in(&view, std::slice::from_ref(&batch))
                .await?;
        }
        p.added.push((session.next_id(), batch));
        session.keep(p);
        Ok(rows as u64)
    }

    async fn private_rewrite(
        &self,
        session: &SessionTransaction,
        predicate: Option<Expr>,
        change: Change,
    ) -> Result<u64> {
        let mut p = session
            .view(self)
            .ok_or_else(|| BrookError::Storage("the transaction ended".into()))?;
        let source = Source {
            schema: self.inner.schema.clone(),
            delta: p.base.delta.table.clone(),
            live_files: Self::live_ids(&p.base, &p.removed_files)?,
            commits: Self::commits_of(&p.base, &p.removed_commits, &p.added),
        };
        let Some(touched) = source.affected(predicate.as_ref(), &change).await? else {
            return Ok(0);
        };
        let rewrite = source.rewrite(touched, predicate.as_ref(), &change).await?;
        let rows = self.conform(rewrite.rows)?;
        let batch = datafusion::arrow::compute::concat_batches(&self.inner.schema, &rows)?;
        p.removed_files.extend(rewrite.removed_files);
        for unit in rewrite.removed_commits {
            if unit >= PRIVATE_IDS {
                p.added.retain(|(id, _)| *id != unit);
            } else {
                p.removed_commits.insert(unit);
            }
        }
        if p.pin.is_none() && !(p.removed_files.is_empty() && p.removed_commits.is_empty()) {
            p.pin = Some(self.pin());
        }
        let keys = self.keys_updated_by(&change);
        if !keys.is_empty() && batch.num_rows() > 0 {
            // The rewritten units against the rest of what the transaction sees.
            let rest = self.private_provider(&p).await?;
            for key in keys {
                self.check_key_in(&rest, std::slice::from_ref(&batch), key)
                    .await?;
            }
        }
        if batch.num_rows() > 0 {
            p.added.push((session.next_id(), batch));
        }
        session.keep(p);
        Ok(rewrite.matched)
    }

    /// Commit the private versions `changed` (in table-directory order) as
    /// one log record: all of them become durable and visible together,
    /// or none does. A unit one of them removed that is no longer in its
    /// table means another commit changed those rows after the snapshot:
    /// 40001, and nothing is written. Schema changes (`catalog`) go into
    /// the same record and are applied while the rows are published.
    ///
    /// `replaced` are the tables an `ALTER TABLE` of the transaction copied
    /// into new files: they must not have changed since its snapshot (a
    /// write the copy did not see would be lost: 40001), and they are
    /// retired under their locks, so a writer that waited for them fails
    /// rather than writing into files no catalog names any more.
    pub(in crate::storage) async fn commit_transaction(
        changed: Vec<Private>,
        replaced: Vec<Private>,
        mut catalog: Option<CatalogCommit<'_>>,
    ) -> Result<()> {
        if changed.is_empty() && replaced.is_empty() && catalog.is_none() {
            return Ok(());
        }
        // Every table's locks in directory order, so two commits never
        // wait for each other in a cycle.
        let mut locked: Vec<&DurableTable> = changed
            .iter()
            .chain(replaced.iter().filter(|p| !p.held))
            .map(|p| &p.table)
            .collect();
        locked.sort_by(|a, b| a.dir().cmp(b.dir()));
        let mut guards = Vec::with_capacity(locked.len());
        for table in locked {
            let writer = table.inner.writer.lock().await;
            let gate = table.inner.gate.write().await;
            table.ensure_live()?;
            guards.push((writer, gate));
        }
        for p in &replaced {
            if !Arc::ptr_eq(&p.table.current(), &p.base) {
                return Err(BrookError::SerializationFailure);
            }
        }
        let mut changes = Vec::with_capacity(changed.len());
        let mut publish = Vec::with_capacity(changed.len());
        let mut log = None;
        for p in &changed {
            let table = &p.table;
            let attached = table.inner.log.get().ok_or_else(|| {
                BrookError::Storage(format!("table \"{}\" has no write-ahead log", table.name()))
            })?;
            log.get_or_insert_with(|| attached.log.clone());
            let current = table.current();
            let live_files: HashSet<String> = file_ids(&current.delta.table)?
                .into_iter()
                .map(|(id, _)| id)
                .filter(|id| !current.hidden.contains(id))
                .collect();
            let live_commits: HashSet<u64> = current
                .memtable
                .entries()
                .iter()
                .map(|e| e.lsn)
                .filter(|lsn| !current.dead.contains(lsn))
                .collect();
            if p.removed_files.iter().any(|f| !live_files.contains(f))
                || p.removed_commits.iter().any(|c| !live_commits.contains(c))
            {
                return Err(BrookError::SerializationFailure);
            }
            let rows: Vec<RecordBatch> = p.added.iter().map(|(_, b)| b.clone()).collect();
            let batch = datafusion::arrow::compute::concat_batches(&table.inner.schema, &rows)?;
            if batch.num_rows() > 0 && !table.inner.constraints.keys.is_empty() {
                // Against what the table holds now, less what this transaction removed.
                let now = table
                    .provider_with(&current, &p.removed_files, &p.removed_commits, &[])
                    .await?;
                table
                    .check_unique_in(&now, std::slice::from_ref(&batch))
                    .await?;
            }
            let mut removed_files: Vec<String> = p.removed_files.iter().cloned().collect();
            removed_files.sort();
            let mut removed_commits: Vec<u64> = p.removed_commits.iter().copied().collect();
            removed_commits.sort_unstable();
            let removal = table
                .prepare_removal(&current, &removed_files, &removed_commits)
                .await?;
            changes.push(TableChange {
                table: attached.id.clone(),
                rows: (batch.num_rows() > 0).then(|| batch.clone()),
                progress: vec![],
                removed_files,
                removed_commits,
            });
            publish.push((table, batch, removal));
        }
        let log = match (log, &catalog) {
            (Some(log), _) => log,
            (None, Some(c)) => c.log.clone(),
            (None, None) => return Ok(()),
        };
        let record = CommitRecord {
            changes,
            catalog: catalog.as_ref().map(|c| c.bytes.clone()),
        };
        let durable = log.append(&record).await?;
        let at = std::time::Instant::now();
        let _all_at_once = crate::storage::transaction::publishing();
        for (table, rows, removal) in publish {
            table.publish_removal(
                Entry {
                    lsn: durable.lsn,
                    rows,
                    progress: vec![],
                    at,
                },
                removal,
            );
        }
        if let Some(c) = catalog.as_mut() {
            // The record is durable: the transaction has happened, and a
            // restart would apply these changes from it if this fails.
            (c.apply)(durable.lsn).map_err(|e| {
                BrookError::Storage(format!(
                    "the transaction is committed, but its schema changes could not be \
                     applied until the server restarts: {e}"
                ))
            })?;
        }
        for p in &replaced {
            p.table.retire();
        }
        drop(guards);
        Ok(())
    }
}
