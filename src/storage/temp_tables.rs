//! A session's temporary tables (`CREATE TEMP TABLE`): in memory, seen by
//! no other session, gone when the session ends, and transactional.
//!
//! They are DataFusion `MemTable`s in the session's own `pg_temp` schema
//! (catalog::session_catalog puts it beside the shared schemas). Nothing
//! but their session reads or writes them, so a transaction needs no
//! snapshot isolation for them, only undo: `BEGIN` and each `SAVEPOINT`
//! remember which tables exist and their rows (record batches are shared,
//! so that costs a list of pointers), and `ROLLBACK` / `ROLLBACK TO` put
//! them back — a table created in the block disappears, one dropped in it
//! returns with its rows.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::error::{DataFusionError, Result};
use datafusion::prelude::SessionContext;

use super::temp_constraints::ConstrainedTemp;
use crate::locks::lock;

/// The rows of a temporary table, with or without constraints.
fn memory(table: &Arc<dyn TableProvider>) -> Option<&MemTable> {
    table.downcast_ref::<MemTable>().or_else(|| {
        table
            .downcast_ref::<ConstrainedTemp>()
            .map(ConstrainedTemp::memory)
    })
}

/// The schema name a session's temporary tables live in.
pub const TEMP_SCHEMA: &str = "pg_temp";

/// Each table with its rows, per partition.
type Saved = BTreeMap<String, (Arc<dyn TableProvider>, Vec<Vec<RecordBatch>>)>;

/// One session's temporary tables.
#[derive(Debug, Default)]
pub struct TempTables {
    /// Each a `MemTable` (register_table keeps no other kind).
    tables: Mutex<BTreeMap<String, Arc<dyn TableProvider>>>,
    /// What `ROLLBACK` restores (the block's start) and what each savepoint
    /// restores, oldest first; empty outside a block.
    saved: Mutex<Vec<(Option<String>, Saved)>>,
}

impl TempTables {
    /// The temporary tables of the session `ctx` belongs to.
    pub fn of(ctx: &SessionContext) -> Option<Arc<TempTables>> {
        ctx.state_ref()
            .read()
            .config()
            .get_extension::<TempTables>()
    }

    /// Whether the session has any.
    pub fn is_empty(&self) -> bool {
        lock(&self.tables).is_empty()
    }

    /// Whether the session has a temporary table `name`.
    pub fn has(&self, name: &str) -> bool {
        lock(&self.tables).contains_key(name)
    }

    /// `DROP TABLE name` (undone by a ROLLBACK of the block, like the rest).
    pub fn drop_table(&self, name: &str) {
        lock(&self.tables).remove(name);
    }

    /// `TRUNCATE name` (undone by a ROLLBACK of the block, like the rest).
    pub async fn truncate(&self, name: &str) {
        let table = lock(&self.tables).get(name).cloned();
        if let Some(memory) = table.as_ref().and_then(memory) {
            for partition in &memory.batches {
                partition.write().await.clear();
            }
        }
    }

    /// How many rows table `name` holds (the tag of a CREATE TEMP TABLE AS).
    pub async fn rows(&self, name: &str) -> usize {
        let table = lock(&self.tables).get(name).cloned();
        let Some(memory) = table.as_ref().and_then(memory) else {
            return 0;
        };
        let mut rows = 0;
        for partition in &memory.batches {
            rows += partition
                .read()
                .await
                .iter()
                .map(RecordBatch::num_rows)
                .sum::<usize>();
        }
        rows
    }

    /// A table's rows now. The locks are the `MemTable`'s own; nothing else
    /// holds them between statements, so waiting is only for a statement of
    /// this session that is still writing.
    async fn save(&self) -> Saved {
        let tables: Vec<(String, Arc<dyn TableProvider>)> = lock(&self.tables)
            .iter()
            .map(|(n, t)| (n.clone(), t.clone()))
            .collect();
        let mut saved = Saved::new();
        for (name, table) in tables {
            let mut partitions = vec![];
            if let Some(memory) = memory(&table) {
                for partition in &memory.batches {
                    partitions.push(partition.read().await.clone());
                }
            }
            saved.insert(name, (table, partitions));
        }
        saved
    }

    async fn restore(&self, saved: Saved) {
        let mut tables = BTreeMap::new();
        for (name, (table, partitions)) in saved {
            if let Some(memory) = memory(&table) {
                for (partition, rows) in memory.batches.iter().zip(partitions) {
                    *partition.write().await = rows;
                }
            }
            tables.insert(name, table);
        }
        *lock(&self.tables) = tables;
    }

    /// `BEGIN`.
    pub async fn begin(&self) {
        let saved = self.save().await;
        *lock(&self.saved) = vec![(None, saved)];
    }

    /// `SAVEPOINT name`.
    pub async fn savepoint(&self, name: &str) {
        if lock(&self.saved).is_empty() {
            return;
        }
        let saved = self.save().await;
        lock(&self.saved).push((Some(name.to_string()), saved));
    }

    /// `ROLLBACK TO SAVEPOINT name`: the tables as they were at it.
    pub async fn rollback_to(&self, name: &str) {
        let saved = {
            let mut all = lock(&self.saved);
            let Some(at) = all.iter().rposition(|(n, _)| n.as_deref() == Some(name)) else {
                return;
            };
            all.truncate(at + 1);
            all[at].1.clone()
        };
        self.restore(saved).await;
    }

    /// `RELEASE SAVEPOINT name`.
    pub fn release(&self, name: &str) {
        let mut all = lock(&self.saved);
        if let Some(at) = all.iter().rposition(|(n, _)| n.as_deref() == Some(name)) {
            all.truncate(at);
        }
    }

    /// The block ended: committed, the tables stay as they are; rolled
    /// back, they are as they were at `BEGIN`.
    pub async fn end(&self, committed: bool) {
        let saved = std::mem::take(&mut *lock(&self.saved));
        if committed {
            return;
        }
        if let Some((_, at_begin)) = saved.into_iter().next() {
            self.restore(at_begin).await;
        }
    }

    /// Put `table` (the same rows, with its constraints kept) in place of
    /// the memory table `name` that DataFusion's CREATE made.
    pub fn constrain(&self, name: &str, table: ConstrainedTemp) {
        lock(&self.tables).insert(name.to_string(), Arc::new(table));
    }

    /// The memory table `name`, as DataFusion's CREATE made it.
    pub fn memory_table(&self, name: &str) -> Option<Arc<MemTable>> {
        let table: Arc<dyn std::any::Any + Send + Sync> = lock(&self.tables).get(name).cloned()?;
        table.downcast::<MemTable>().ok()
    }

    /// `DISCARD TEMP` / `DISCARD ALL`.
    pub fn clear(&self) {
        lock(&self.tables).clear();
    }
}

#[async_trait]
impl SchemaProvider for TempTables {
    fn table_names(&self) -> Vec<String> {
        lock(&self.tables).keys().cloned().collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        Ok(lock(&self.tables).get(name).cloned())
    }

    /// DataFusion's `CREATE TABLE pg_temp.t …` lands here: only memory
    /// tables (what it builds for CREATE and CTAS) are kept.
    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        if table.downcast_ref::<MemTable>().is_none() {
            return Err(DataFusionError::Plan(
                "only tables can be created in the temporary schema".into(),
            ));
        }
        Ok(lock(&self.tables).insert(name, table))
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        Ok(lock(&self.tables).remove(name))
    }

    fn table_exist(&self, name: &str) -> bool {
        lock(&self.tables).contains_key(name)
    }
}
