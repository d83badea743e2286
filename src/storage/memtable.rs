//! A table's committed rows that are not in its Delta log yet.
//!
//! A commit is durable once its write-ahead log record is fsynced; its rows
//! then wait here, visible to every query, until the flusher writes them to
//! Delta as one commit (many small commits become one Parquet file). The
//! memtable only grows between flushes, so a published version is the
//! memtable and how many of its entries it sees: publishing a commit does
//! not copy the entries before it.

use std::sync::{Arc, RwLock};
use std::time::Instant;

use datafusion::arrow::array::RecordBatch;

/// One commit's change to the table.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The commit's log record.
    pub lsn: u64,
    /// The rows it appended (possibly none).
    pub rows: RecordBatch,
    /// Application progress committed with the rows (a pipeline's offsets).
    pub progress: Vec<(String, i64)>,
    /// When it was published, for the flusher's age limit.
    pub at: Instant,
}

/// The entries of one memtable, in the order they were published (a commit
/// that waited longer for its fsync may come after one with a higher LSN).
#[derive(Debug, Default)]
pub struct Memtable {
    entries: RwLock<Vec<Entry>>,
}

/// A published prefix of a memtable: what one version of the table sees.
#[derive(Debug, Clone, Default)]
pub struct MemView {
    memtable: Arc<Memtable>,
    len: usize,
    /// The memory of the rows of the first `len` entries.
    bytes: usize,
}

impl MemView {
    /// A memtable holding `entries`, all visible.
    pub fn with(entries: Vec<Entry>) -> Self {
        let len = entries.len();
        let bytes = entries.iter().map(|e| e.rows.get_array_memory_size()).sum();
        Self {
            memtable: Arc::new(Memtable {
                entries: RwLock::new(entries),
            }),
            len,
            bytes,
        }
    }

    /// This view with `entry` added. Callers publish under one lock, so a
    /// view's entries are always the memtable's first `len`.
    pub fn push(&self, entry: Entry) -> Self {
        let mut entries = match self.memtable.entries.write() {
            Ok(e) => e,
            Err(poisoned) => poisoned.into_inner(),
        };
        debug_assert_eq!(
            entries.len(),
            self.len,
            "a memtable grows from its latest view"
        );
        let bytes = self.bytes + entry.rows.get_array_memory_size();
        entries.push(entry);
        Self {
            memtable: self.memtable.clone(),
            len: entries.len(),
            bytes,
        }
    }

    fn read<T>(&self, f: impl FnOnce(&[Entry]) -> T) -> T {
        let entries = match self.memtable.entries.read() {
            Ok(e) => e,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&entries[..self.len.min(entries.len())])
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The entries this view sees.
    pub fn entries(&self) -> Vec<Entry> {
        self.read(|e| e.to_vec())
    }

    /// The entries after the first `n` (what is left once they are flushed).
    pub fn after(&self, n: usize) -> Vec<Entry> {
        self.read(|e| e.get(n..).map(<[Entry]>::to_vec).unwrap_or_default())
    }

    /// The non-empty row batches this view sees.
    pub fn batches(&self) -> Vec<RecordBatch> {
        self.read(|e| {
            e.iter()
                .filter(|e| e.rows.num_rows() > 0)
                .map(|e| e.rows.clone())
                .collect()
        })
    }

    /// The latest progress `app_id` recorded here (by LSN).
    pub fn progress(&self, app_id: &str) -> Option<i64> {
        self.read(|e| {
            e.iter()
                .flat_map(|e| e.progress.iter().map(move |p| (e.lsn, p)))
                .filter(|(_, (app, _))| app == app_id)
                .max_by_key(|(lsn, _)| *lsn)
                .map(|(_, (_, version))| *version)
        })
    }

    /// The lowest LSN held here: the log must keep records from it on.
    pub fn oldest_lsn(&self) -> Option<u64> {
        self.read(|e| e.iter().map(|e| e.lsn).min())
    }

    /// When the oldest entry was published.
    pub fn oldest_at(&self) -> Option<Instant> {
        self.read(|e| e.iter().map(|e| e.at).min())
    }

    /// The memory the rows take.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::Int64Array;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn entry(lsn: u64, n: i64, progress: Vec<(String, i64)>) -> Entry {
        let schema = Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, false)]));
        Entry {
            lsn,
            rows: RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![n]))]).unwrap(),
            progress,
            at: Instant::now(),
        }
    }

    #[test]
    fn an_older_view_keeps_seeing_what_it_saw() {
        let empty = MemView::default();
        let one = empty.push(entry(1, 10, vec![]));
        let two = one.push(entry(2, 20, vec![]));
        assert_eq!(empty.batches().len(), 0);
        assert_eq!(one.batches().len(), 1);
        assert_eq!(two.batches().len(), 2);
        assert_eq!(two.after(1).len(), 1);
        assert_eq!(two.oldest_lsn(), Some(1));
    }

    #[test]
    fn progress_is_the_highest_lsn_s() {
        let view = MemView::default()
            .push(entry(5, 1, vec![("p".into(), 50)]))
            .push(entry(4, 1, vec![("p".into(), 40), ("q".into(), 7)]));
        assert_eq!(view.progress("p"), Some(50));
        assert_eq!(view.progress("q"), Some(7));
        assert_eq!(view.progress("r"), None);
        assert_eq!(view.oldest_lsn(), Some(4));
    }
}
