//! UPDATE and DELETE as copy-on-write over a table version's units.
//!
//! A version's rows live in units: Delta files and unflushed commits (the
//! memtable's entries). A rewrite finds the units that hold a matching row,
//! removes them whole and puts back what they hold after the change: the
//! surviving rows of a DELETE, every row of an UPDATE with the matching ones
//! changed. That is what Delta itself does to a file, done here without
//! writing Parquet, so that a rewrite is one log record like an append
//! (`storage::commit`): it can be replayed, and several of them, over
//! several tables, can be one transaction's record. The flusher later turns
//! the removals into Delta `remove` actions.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::functions_aggregate::count::count_all;
use datafusion::logical_expr::{Expr, ExprSchemable, col, lit, when};
use datafusion::prelude::{DataFrame, SessionContext};
use deltalake::DeltaTable;

use crate::error::{BrookError, Result};

/// The column a scan names each row's unit in.
const UNIT: &str = "__brook_unit";

/// What a DML statement changes.
pub enum Change {
    Delete,
    /// `column = value` for each assigned column, values over the old row.
    Update(Vec<(String, Expr)>),
}

/// A version of a table as a rewrite reads it.
pub struct Source {
    pub schema: SchemaRef,
    pub delta: DeltaTable,
    /// The Delta files the version reads (`None`: all of the snapshot's).
    pub live_files: Option<Vec<String>>,
    /// The version's unflushed commits with rows: LSN and rows.
    pub commits: Vec<(u64, RecordBatch)>,
}

/// The units a predicate touches, before any row is rewritten.
pub struct Touched {
    pub files: Vec<String>,
    pub commits: Vec<u64>,
    /// Rows that match.
    pub matched: u64,
    /// Bytes of the touched files (what rewriting them costs).
    pub file_bytes: u64,
}

/// A rewrite ready to commit: the units it removes and the rows that
/// replace them.
pub struct Rewrite {
    pub removed_files: Vec<String>,
    pub removed_commits: Vec<u64>,
    /// The rows that replace them, not yet conformed to the table's types.
    pub rows: Vec<RecordBatch>,
    pub matched: u64,
}

fn commit_unit(lsn: u64) -> String {
    format!("commit:{lsn}")
}

/// The table's root as a directory URL, which file paths are relative to.
pub fn table_root(delta: &DeltaTable) -> url::Url {
    let mut root = delta.log_store().root_url().clone();
    if !root.path().ends_with('/') {
        root.set_path(&format!("{}/", root.path()));
    }
    root
}

/// The id a scan reports for the file at `path` (relative to `root`).
pub fn file_id(root: &url::Url, path: &str) -> Result<String> {
    root.join(path)
        .map(|id| id.to_string())
        .map_err(|e| BrookError::Storage(format!("file {path}: {e}")))
}

/// The file id a scan reports for each of `delta`'s files, with its size.
pub fn file_ids(delta: &DeltaTable) -> Result<Vec<(String, u64)>> {
    let root = table_root(delta);
    let snapshot = delta.snapshot()?;
    snapshot
        .log_data()
        .into_iter()
        .map(|file| {
            Ok((
                file_id(&root, &file.path())?,
                u64::try_from(file.size()).unwrap_or(0),
            ))
        })
        .collect()
}

impl Source {
    fn ctx() -> SessionContext {
        SessionContext::new_with_state(super::table::scan_session().as_ref().clone())
    }

    /// A scan of the Delta files `files` (all live ones when `None`), with
    /// the unit column when `unit` is set.
    async fn files(
        &self,
        files: Option<Vec<String>>,
        unit: bool,
    ) -> Result<Arc<dyn TableProvider>> {
        let mut builder = self
            .delta
            .table_provider()
            .with_session(super::table::scan_session());
        if unit {
            builder = builder.with_file_column(UNIT);
        }
        if let Some(files) = files.or_else(|| self.live_files.clone()) {
            builder = builder.with_file_paths(files);
        }
        builder
            .await
            .map_err(|e| BrookError::Storage(e.to_string()))
    }

    /// The rows of the units named, as one DataFrame with the table's
    /// columns and (with `unit`) the unit column as text.
    async fn rows(
        &self,
        ctx: &SessionContext,
        files: Option<Vec<String>>,
        commits: &HashSet<u64>,
        unit: bool,
    ) -> Result<Option<DataFrame>> {
        let mut columns: Vec<Expr> = self
            .schema
            .fields()
            .iter()
            .map(|f| col(datafusion::common::Column::new_unqualified(f.name())))
            .collect();
        let mut parts: Vec<DataFrame> = vec![];
        let no_files = files.as_ref().is_some_and(Vec::is_empty)
            || (files.is_none() && self.live_files.as_ref().is_some_and(Vec::is_empty));
        if !no_files {
            let mut select = columns.clone();
            if unit {
                select.push(
                    Expr::Cast(datafusion::logical_expr::Cast::new(
                        Box::new(col(UNIT)),
                        DataType::Utf8,
                    ))
                    .alias(UNIT),
                );
            }
            parts.push(
                ctx.read_table(self.files(files, unit).await?)?
                    .select(select)?,
            );
        }
        let mut batches = vec![];
        for (lsn, batch) in &self.commits {
            if !commits.contains(lsn) || batch.num_rows() == 0 {
                continue;
            }
            if unit {
                let mut fields = self.schema.fields().to_vec();
                fields.push(Arc::new(Field::new(UNIT, DataType::Utf8, false)));
                let mut arrays = batch.columns().to_vec();
                arrays.push(Arc::new(StringArray::from(vec![
                    commit_unit(*lsn);
                    batch.num_rows()
                ])));
                batches.push(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?);
            } else {
                batches.push(batch.clone());
            }
        }
        if let Some(first) = batches.first() {
            let one = concat_batches(&first.schema(), &batches)?;
            parts.push(ctx.read_batch(one)?);
        }
        if unit {
            columns.push(col(UNIT));
        }
        let mut parts = parts.into_iter();
        let Some(mut all) = parts.next() else {
            return Ok(None);
        };
        for part in parts {
            all = all.union(part)?;
        }
        Ok(Some(all.select(columns)?))
    }

    /// The units `change` of the rows matching `predicate` rewrites;
    /// `None` when it touches nothing. TRUNCATE and DELETE without WHERE
    /// remove every unit unread.
    pub async fn affected(
        &self,
        predicate: Option<&Expr>,
        change: &Change,
    ) -> Result<Option<Touched>> {
        let touched = match (predicate, change) {
            (None, Change::Delete) => match self.everything()? {
                Some(all) => all,
                None => self.touched(None).await?,
            },
            _ => self.touched(predicate).await?,
        };
        let nothing =
            touched.matched == 0 && touched.files.is_empty() && touched.commits.is_empty();
        Ok((!nothing).then_some(touched))
    }

    /// Every unit, unread: what TRUNCATE and DELETE without WHERE remove.
    /// `None` when a file's row count is not in the Delta log (then the
    /// rows must be counted by [`Source::touched`]).
    pub fn everything(&self) -> Result<Option<Touched>> {
        let files: Vec<(String, u64)> = match &self.live_files {
            Some(live) => {
                let live: HashSet<&String> = live.iter().collect();
                file_ids(&self.delta)?
                    .into_iter()
                    .filter(|(id, _)| live.contains(id))
                    .collect()
            }
            None => file_ids(&self.delta)?,
        };
        let rows: u64 = self
            .commits
            .iter()
            .map(|(_, b)| b.num_rows() as u64)
            .sum::<u64>();
        let Some(file_rows) = self.file_rows(&files)? else {
            return Ok(None);
        };
        Ok(Some(Touched {
            file_bytes: 0,
            files: files.into_iter().map(|(id, _)| id).collect(),
            commits: self.commits.iter().map(|(lsn, _)| *lsn).collect(),
            matched: rows + file_rows,
        }))
    }

    /// The rows in `files` by the Delta log's statistics.
    fn file_rows(&self, files: &[(String, u64)]) -> Result<Option<u64>> {
        let wanted: HashSet<&str> = files.iter().map(|(id, _)| id.as_str()).collect();
        let root = table_root(&self.delta);
        let mut rows = 0u64;
        for file in self.delta.snapshot()?.log_data() {
            if !wanted.contains(file_id(&root, &file.path())?.as_str()) {
                continue;
            }
            match file.num_records() {
                Some(n) => rows += n as u64,
                None => return Ok(None),
            }
        }
        Ok(Some(rows))
    }

    /// The units holding a row `predicate` matches (every row when `None`).
    pub async fn touched(&self, predicate: Option<&Expr>) -> Result<Touched> {
        let ctx = Self::ctx();
        let every: HashSet<u64> = self.commits.iter().map(|(lsn, _)| *lsn).collect();
        let mut touched = Touched {
            files: vec![],
            commits: vec![],
            matched: 0,
            file_bytes: 0,
        };
        let Some(rows) = self.rows(&ctx, None, &every, true).await? else {
            return Ok(touched);
        };
        // A filter keeps the rows its predicate is true for, and as a
        // plain predicate it prunes files and row groups by their statistics.
        let rows = match predicate {
            Some(p) => rows.filter(p.clone())?,
            None => rows,
        };
        let counts = rows
            .aggregate(vec![col(UNIT)], vec![count_all().alias("n")])?
            .collect()
            .await?;
        let commits: HashMap<String, u64> = self
            .commits
            .iter()
            .map(|(lsn, _)| (commit_unit(*lsn), *lsn))
            .collect();
        let sizes: HashMap<String, u64> = file_ids(&self.delta)?.into_iter().collect();
        for batch in &counts {
            let units = cast(batch.column(0), &DataType::Utf8)?;
            let units = units.as_string::<i32>();
            let n = cast(batch.column(1), &DataType::UInt64)?;
            let n = n
                .as_any()
                .downcast_ref::<UInt64Array>()
                .ok_or_else(|| BrookError::Storage("a count that is not a number".into()))?;
            for i in 0..batch.num_rows() {
                if units.is_null(i) {
                    continue;
                }
                let unit = units.value(i);
                touched.matched += n.value(i);
                match commits.get(unit) {
                    Some(lsn) => touched.commits.push(*lsn),
                    None => {
                        touched.file_bytes += sizes.get(unit).copied().unwrap_or(0);
                        touched.files.push(unit.to_string());
                    }
                }
            }
        }
        touched.files.sort();
        touched.commits.sort_unstable();
        Ok(touched)
    }

    /// What the units `touched` hold after `change` of the rows matching
    /// `predicate`. Assigned values are cast to their column's type (an
    /// out-of-range value is an error, as in PostgreSQL).
    pub async fn rewrite(
        &self,
        touched: Touched,
        predicate: Option<&Expr>,
        change: &Change,
    ) -> Result<Rewrite> {
        let ctx = Self::ctx();
        let commits: HashSet<u64> = touched.commits.iter().copied().collect();
        let matches = predicate.cloned().unwrap_or(lit(true)).is_true();
        let everything_deleted = predicate.is_none() && matches!(change, Change::Delete);
        let rows = if everything_deleted {
            None
        } else {
            self.rows(&ctx, Some(touched.files.clone()), &commits, false)
                .await?
        };
        let batches = match rows {
            None => vec![],
            Some(rows) => {
                let rows = match change {
                    Change::Delete => rows.filter(!matches)?,
                    Change::Update(assignments) => {
                        let df_schema = rows.schema().clone();
                        let mut columns = Vec::with_capacity(self.schema.fields().len());
                        for field in self.schema.fields() {
                            let old =
                                col(datafusion::common::Column::new_unqualified(field.name()));
                            let value = match assignments.iter().find(|(c, _)| c == field.name()) {
                                None => old,
                                Some((_, value)) => {
                                    let value = if value.get_type(&df_schema)? == *field.data_type()
                                    {
                                        value.clone()
                                    } else {
                                        Expr::Cast(datafusion::logical_expr::Cast::new(
                                            Box::new(value.clone()),
                                            field.data_type().clone(),
                                        ))
                                    };
                                    when(matches.clone(), value).otherwise(old)?
                                }
                            };
                            columns.push(value.alias(field.name()));
                        }
                        rows.select(columns)?
                    }
                };
                rows.collect().await?
            }
        };
        Ok(Rewrite {
            removed_files: touched.files,
            removed_commits: touched.commits,
            rows: batches,
            matched: touched.matched,
        })
    }
}
