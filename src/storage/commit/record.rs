//! A commit's bytes in the write-ahead log: what each table it touched gains.
//!
//! ```text
//! record  = version:u8 (3) | changes:u32 | change* | catalog:u64 | bytes
//! change  = table:str | progress:u32 | (app_id:str | version:i64)*
//!           | removed files:u32 | str* | removed commits:u32 | lsn:u64*
//!           | rows:u64 | Arrow IPC stream (rows bytes; 0 = none)
//! str     = len:u32 | UTF-8 bytes
//! ```
//!
//! The catalog bytes (0 = none) are the schema changes of a transaction
//! that made some (`CREATE TABLE`, `DROP TABLE`, views inside `BEGIN …
//! COMMIT`), in the catalog's own encoding: the log carries them so that
//! they commit in the same record as the rows (docs/transactions.md).
//! Version 1 (appends only) had no removal lists, version 2 no catalog
//! bytes; both are still read.
//!
//! Rows travel as an Arrow IPC stream (schema and one batch), the format
//! Arrow itself defines for moving batches between processes, so the bytes
//! replayed are exactly the batch that was committed. All integers are
//! little-endian.

use std::io::Cursor;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;

use super::CommitError;

const FORMAT_VERSION: u8 = 3;

/// What one commit changed in one table.
#[derive(Debug, Clone)]
pub struct TableChange {
    /// The table's directory below the data directory: unique for the life
    /// of the data directory (a re-created table gets a new one), so a
    /// record never lands in a different table of the same name.
    pub table: String,
    /// The rows appended (none for a commit that only records progress).
    pub rows: Option<RecordBatch>,
    /// Application progress recorded with the rows (a pipeline's next
    /// offset per partition), as Delta `txn` actions are.
    pub progress: Vec<(String, i64)>,
    /// Delta files of the table this commit removed (an UPDATE or DELETE
    /// rewrites the files it touches: what survives is in `rows`), by the
    /// file id a scan reports.
    pub removed_files: Vec<String>,
    /// Earlier commits (by LSN) whose rows, still unflushed, this commit
    /// removed from the table in the same way.
    pub removed_commits: Vec<u64>,
}

/// One commit: every table it changes.
#[derive(Debug, Clone, Default)]
pub struct CommitRecord {
    pub changes: Vec<TableChange>,
    /// Schema changes committed with the rows, as the catalog encodes them
    /// (storage does not read them; recovery hands them back to the catalog).
    pub catalog: Option<Vec<u8>>,
}

impl CommitRecord {
    pub fn encode(&self) -> Result<Vec<u8>, CommitError> {
        let mut out = vec![FORMAT_VERSION];
        put_u32(&mut out, self.changes.len())?;
        for change in &self.changes {
            put_str(&mut out, &change.table)?;
            put_u32(&mut out, change.progress.len())?;
            for (app, version) in &change.progress {
                put_str(&mut out, app)?;
                out.extend_from_slice(&version.to_le_bytes());
            }
            put_u32(&mut out, change.removed_files.len())?;
            for file in &change.removed_files {
                put_str(&mut out, file)?;
            }
            put_u32(&mut out, change.removed_commits.len())?;
            for lsn in &change.removed_commits {
                out.extend_from_slice(&lsn.to_le_bytes());
            }
            match &change.rows {
                None => out.extend_from_slice(&0u64.to_le_bytes()),
                Some(batch) => {
                    let mut ipc = Vec::new();
                    let mut writer = StreamWriter::try_new(&mut ipc, batch.schema_ref())?;
                    writer.write(batch)?;
                    writer.finish()?;
                    drop(writer);
                    out.extend_from_slice(&(ipc.len() as u64).to_le_bytes());
                    out.extend_from_slice(&ipc);
                }
            }
        }
        let catalog = self.catalog.as_deref().unwrap_or_default();
        out.extend_from_slice(&(catalog.len() as u64).to_le_bytes());
        out.extend_from_slice(catalog);
        Ok(out)
    }

    /// Read a record back; `lsn` only names it in errors.
    pub fn decode(lsn: u64, bytes: &[u8]) -> Result<Self, CommitError> {
        let mut input = Input { bytes, at: 0, lsn };
        let version = input.take(1)?[0];
        if !(1..=FORMAT_VERSION).contains(&version) {
            return Err(input.bad(format!("unknown record format {version}")));
        }
        let count = input.u32()?;
        let mut changes = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            let table = input.str()?;
            let entries = input.u32()?;
            let mut progress = Vec::with_capacity(entries.min(1024));
            for _ in 0..entries {
                let app = input.str()?;
                let version = i64::from_le_bytes(input.array()?);
                progress.push((app, version));
            }
            let (mut removed_files, mut removed_commits) = (vec![], vec![]);
            if version >= 2 {
                let files = input.u32()?;
                for _ in 0..files {
                    removed_files.push(input.str()?);
                }
                let commits = input.u32()?;
                for _ in 0..commits {
                    removed_commits.push(u64::from_le_bytes(input.array()?));
                }
            }
            let len = usize::try_from(u64::from_le_bytes(input.array()?))
                .map_err(|_| input.bad("rows longer than memory".into()))?;
            let rows = if len == 0 {
                None
            } else {
                let ipc = input.take(len)?;
                let arrow = |e: datafusion::arrow::error::ArrowError| input.bad(e.to_string());
                let mut reader = StreamReader::try_new(Cursor::new(ipc), None).map_err(arrow)?;
                let batch = reader
                    .next()
                    .transpose()
                    .map_err(arrow)?
                    .ok_or_else(|| input.bad("rows without a batch".into()))?;
                Some(batch)
            };
            changes.push(TableChange {
                table,
                rows,
                progress,
                removed_files,
                removed_commits,
            });
        }
        let mut catalog = None;
        if version >= 3 {
            let len = usize::try_from(u64::from_le_bytes(input.array()?))
                .map_err(|_| input.bad("catalog changes longer than memory".into()))?;
            if len > 0 {
                catalog = Some(input.take(len)?.to_vec());
            }
        }
        if input.at != bytes.len() {
            return Err(input.bad("bytes after the last change".into()));
        }
        Ok(Self { changes, catalog })
    }
}

fn put_u32(out: &mut Vec<u8>, n: usize) -> Result<(), CommitError> {
    let n = u32::try_from(n).map_err(|_| CommitError::TooLarge)?;
    out.extend_from_slice(&n.to_le_bytes());
    Ok(())
}

fn put_str(out: &mut Vec<u8>, s: &str) -> Result<(), CommitError> {
    put_u32(out, s.len())?;
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

struct Input<'a> {
    bytes: &'a [u8],
    at: usize,
    lsn: u64,
}

impl<'a> Input<'a> {
    fn bad(&self, reason: String) -> CommitError {
        CommitError::Record {
            lsn: self.lsn,
            reason,
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CommitError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| self.bad("ends early".into()))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CommitError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u32(&mut self) -> Result<usize, CommitError> {
        Ok(u32::from_le_bytes(self.array()?) as usize)
    }

    fn str(&mut self) -> Result<String, CommitError> {
        let len = self.u32()?;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| self.bad("a name is not UTF-8".into()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new("s", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3])),
                Arc::new(StringArray::from(vec![Some("a"), None, Some("c")])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn a_record_reads_back_as_written() {
        let record = CommitRecord {
            changes: vec![
                TableChange {
                    table: "tables/000001_public_a".into(),
                    rows: Some(batch()),
                    progress: vec![("brook.offsets.x.0".into(), 42), ("p".into(), -1)],
                    removed_files: vec!["file:///d/part-1.parquet".into()],
                    removed_commits: vec![3, 5],
                },
                TableChange {
                    table: "system/pipelines_errors".into(),
                    rows: None,
                    progress: vec![],
                    removed_files: vec![],
                    removed_commits: vec![],
                },
            ],
            catalog: Some(br#"[{"drop":"t"}]"#.to_vec()),
        };
        let back = CommitRecord::decode(7, &record.encode().unwrap()).unwrap();
        assert_eq!(back.catalog, record.catalog);
        assert_eq!(back.changes.len(), 2);
        assert_eq!(back.changes[0].table, "tables/000001_public_a");
        assert_eq!(back.changes[0].rows.as_ref().unwrap(), &batch());
        assert_eq!(back.changes[0].progress, record.changes[0].progress);
        assert_eq!(
            back.changes[0].removed_files,
            record.changes[0].removed_files
        );
        assert_eq!(back.changes[0].removed_commits, vec![3, 5]);
        assert!(back.changes[1].rows.is_none());
    }

    #[test]
    fn a_record_of_format_1_reads_as_an_append() {
        let mut v1 = vec![1u8];
        v1.extend_from_slice(&1u32.to_le_bytes());
        v1.extend_from_slice(&1u32.to_le_bytes());
        v1.push(b't');
        v1.extend_from_slice(&0u32.to_le_bytes());
        v1.extend_from_slice(&0u64.to_le_bytes());
        let back = CommitRecord::decode(4, &v1).unwrap();
        assert_eq!(back.changes[0].table, "t");
        assert!(back.changes[0].removed_files.is_empty());
        assert!(back.changes[0].removed_commits.is_empty());
        assert!(back.catalog.is_none());
    }

    #[test]
    fn a_cut_or_padded_record_is_refused_with_its_lsn() {
        let bytes = CommitRecord {
            changes: vec![TableChange {
                table: "t".into(),
                rows: Some(batch()),
                progress: vec![],
                removed_files: vec![],
                removed_commits: vec![],
            }],
            catalog: None,
        }
        .encode()
        .unwrap();
        for cut in [1, 5, 12, bytes.len() - 1] {
            let err = CommitRecord::decode(9, &bytes[..cut]).unwrap_err();
            assert!(err.to_string().contains("9"), "{err}");
        }
        let mut padded = bytes.clone();
        padded.push(0);
        assert!(CommitRecord::decode(9, &padded).is_err());
        let mut future = bytes;
        future[0] = 4;
        let err = CommitRecord::decode(9, &future).unwrap_err();
        assert!(err.to_string().contains("unknown record format 4"), "{err}");
    }
}
