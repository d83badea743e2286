//! Sequences (`CREATE SEQUENCE`, `serial`, identity columns) and
//! `nextval`/`currval`/`setval`/`lastval`.
//!
//! A value is never handed out twice, also across a crash: before a value
//! beyond what the file on disk allows is handed out, the file is
//! rewritten (atomically, fsynced) to allow the next [`PREFETCH`] values,
//! and on open every sequence continues after what the file allowed. A
//! crash therefore skips at most that many values (PostgreSQL's sequences
//! skip their cache the same way), and one write covers many inserts. As
//! in PostgreSQL, `nextval` is not undone by a ROLLBACK.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, ArrayRef, Int64Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::common::cast::{as_boolean_array, as_int64_array, as_string_array};
use datafusion::common::config::{ConfigEntry, ConfigExtension, ConfigOptions, ExtensionOptions};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Signature, TypeSignature, Volatility};
use serde::{Deserialize, Serialize};

use super::QualifiedName;
use super::pg_format::quote_ident;
use super::settings::{lookup_path, with_session};
use crate::error::{BrookError, Result};
use crate::locks::lock;

/// How many values one write of the file allows ahead.
pub const PREFETCH: i64 = 1024;

const FILE: &str = "sequences.json";

/// One sequence as kept on disk.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Sequence {
    pub increment: i64,
    pub min: i64,
    pub max: i64,
    pub start: i64,
    /// The last value handed out (or set), if any.
    pub last: Option<i64>,
    /// Whether the next value is after `last` (false after `setval(…, false)`).
    pub called: bool,
    /// The furthest value the file allows handing out without a write.
    pub reserved: Option<i64>,
    /// The column that owns it (`serial`, identity): dropped with its table.
    pub owned_by: Option<(QualifiedName, String)>,
    /// Whether it starts over at its minimum (maximum, counting down) past
    /// its end instead of failing.
    #[serde(default)]
    pub cycle: bool,
    /// The largest value its type holds (`AS integer`: 2³¹-1); absent in
    /// files written before it was kept, then read from `max`.
    #[serde(default)]
    pub type_max: Option<i64>,
    /// The role that made it: who may ALTER and DROP it (a column's
    /// sequence is its table owner's).
    #[serde(default = "bootstrap_owner")]
    pub owner: i32,
}

fn bootstrap_owner() -> i32 {
    super::privileges::acl::BOOTSTRAP_OWNER
}

/// The options of `CREATE SEQUENCE` (and of an identity column).
#[derive(Debug, Clone, Default)]
pub struct SequenceOptions {
    pub increment: Option<i64>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub start: Option<i64>,
    pub cycle: bool,
}

/// What `ALTER SEQUENCE` changes; `None` leaves a property as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SequenceChanges {
    /// `AS type`: the largest value of the new type.
    pub type_max: Option<i64>,
    pub increment: Option<i64>,
    /// `MINVALUE n` (`Some(Some(n))`) or `NO MINVALUE` (`Some(None)`).
    pub min: Option<Option<i64>>,
    pub max: Option<Option<i64>>,
    pub start: Option<i64>,
    /// `RESTART` (`Some(None)`: at the start) or `RESTART WITH n`.
    pub restart: Option<Option<i64>>,
    pub cycle: Option<bool>,
}

impl Sequence {
    fn new(options: &SequenceOptions, max_of_type: i64) -> Result<Self> {
        let increment = options.increment.unwrap_or(1);
        if increment == 0 {
            return Err(BrookError::InvalidParameter(
                "INCREMENT must not be zero".into(),
            ));
        }
        let (min, max) = if increment > 0 {
            (options.min.unwrap_or(1), options.max.unwrap_or(max_of_type))
        } else {
            (
                options.min.unwrap_or(-max_of_type),
                options.max.unwrap_or(-1),
            )
        };
        let start = options
            .start
            .unwrap_or(if increment > 0 { min } else { max });
        if min >= max {
            return Err(BrookError::InvalidParameter(format!(
                "MINVALUE ({min}) must be less than MAXVALUE ({max})"
            )));
        }
        out_of_bounds("START", start, min, max)?;
        Ok(Self {
            increment,
            min,
            max,
            start,
            last: None,
            called: false,
            reserved: None,
            owned_by: None,
            cycle: options.cycle,
            type_max: Some(max_of_type),
            owner: bootstrap_owner(),
        })
    }

    /// The largest value of the sequence's type.
    fn type_max(&self) -> i64 {
        self.type_max.unwrap_or(
            if self.max <= i16::MAX.into() && self.min >= i16::MIN.into() {
                i16::MAX.into()
            } else if self.max <= i32::MAX.into() && self.min >= i32::MIN.into() {
                i32::MAX.into()
            } else {
                i64::MAX
            },
        )
    }

    /// This sequence as `ALTER SEQUENCE … changes` leaves it, checked as
    /// PostgreSQL checks it; values already handed out stay handed out.
    fn altered(&self, changes: &SequenceChanges) -> Result<Self> {
        let mut next = self.clone();
        let old_type_max = self.type_max();
        let type_max = changes.type_max.unwrap_or(old_type_max);
        next.type_max = Some(type_max);
        if let Some(increment) = changes.increment {
            if increment == 0 {
                return Err(BrookError::InvalidParameter(
                    "INCREMENT must not be zero".into(),
                ));
            }
            next.increment = increment;
        }
        let ascending = next.increment > 0;
        // A bound that was the old type's default follows the new type, as
        // in PostgreSQL; NO MINVALUE / NO MAXVALUE return to the default.
        next.min = match changes.min {
            Some(Some(min)) => min,
            Some(None) => {
                if ascending {
                    1
                } else {
                    -type_max
                }
            }
            None if !ascending && self.min == -old_type_max => -type_max,
            None => self.min,
        };
        next.max = match changes.max {
            Some(Some(max)) => max,
            Some(None) => {
                if ascending {
                    type_max
                } else {
                    -1
                }
            }
            None if ascending && self.max == old_type_max => type_max,
            None => self.max,
        };
        if next.min < -type_max - 1 || next.max > type_max {
            return Err(BrookError::InvalidParameter(format!(
                "MINVALUE ({}) and MAXVALUE ({}) must fit the sequence's type (largest {type_max})",
                next.min, next.max
            )));
        }
        if next.min >= next.max {
            return Err(BrookError::InvalidParameter(format!(
                "MINVALUE ({}) must be less than MAXVALUE ({})",
                next.min, next.max
            )));
        }
        if let Some(start) = changes.start {
            next.start = start;
        }
        out_of_bounds("START", next.start, next.min, next.max)?;
        if let Some(cycle) = changes.cycle {
            next.cycle = cycle;
        }
        match changes.restart {
            Some(restart) => {
                let value = restart.unwrap_or(next.start);
                out_of_bounds("RESTART", value, next.min, next.max)?;
                next.last = Some(value);
                next.called = false;
                // Nothing after the restart is handed out yet.
                next.reserved = None;
            }
            None => {
                // Whatever the file allowed was counted with the old
                // increment: allow nothing past what was handed out, so that
                // the next value is written (and survives a crash) first.
                next.reserved = if next.called { next.last } else { None };
            }
        }
        Ok(next)
    }

    /// The value `nextval` hands out next, without handing it out.
    fn following(&self, name: &QualifiedName) -> Result<i64> {
        if !self.called {
            return Ok(self.last.unwrap_or(self.start));
        }
        let last = self.last.unwrap_or(self.start);
        match last.checked_add(self.increment) {
            Some(v) if (self.min..=self.max).contains(&v) => Ok(v),
            _ if self.cycle => Ok(if self.increment > 0 {
                self.min
            } else {
                self.max
            }),
            _ => Err(BrookError::SequenceLimit(format!(
                "nextval: reached {} value of sequence \"{}\" ({})",
                if self.increment > 0 {
                    "maximum"
                } else {
                    "minimum"
                },
                name.name,
                if self.increment > 0 {
                    self.max
                } else {
                    self.min
                },
            ))),
        }
    }

    /// Whether the file allows handing out `value`.
    fn allows(&self, value: i64) -> bool {
        match self.reserved {
            Some(r) if self.increment > 0 => value <= r,
            Some(r) => value >= r,
            None => false,
        }
    }
}

/// PostgreSQL's refusal of a START or RESTART value outside the bounds.
fn out_of_bounds(what: &str, value: i64, min: i64, max: i64) -> Result<()> {
    if value < min {
        return Err(BrookError::InvalidParameter(format!(
            "{what} value ({value}) cannot be less than MINVALUE ({min})"
        )));
    }
    if value > max {
        return Err(BrookError::InvalidParameter(format!(
            "{what} value ({value}) cannot be greater than MAXVALUE ({max})"
        )));
    }
    Ok(())
}

/// The server's sequences, by qualified name.
#[derive(Debug)]
pub struct Sequences {
    file: PathBuf,
    all: Mutex<BTreeMap<QualifiedName, Sequence>>,
}

#[derive(Serialize, Deserialize, Default)]
struct SequencesFile {
    sequences: Vec<(QualifiedName, Sequence)>,
}

impl Sequences {
    /// Read `data_dir`'s sequences; each continues after what its file
    /// allowed, so no value handed out before a crash comes again.
    pub fn open(data_dir: &Path) -> Result<Self> {
        let file = data_dir.join(FILE);
        let mut all = BTreeMap::new();
        match std::fs::read(&file) {
            Ok(bytes) => {
                let read: SequencesFile = serde_json::from_slice(&bytes)
                    .map_err(|e| BrookError::CatalogCorrupt(format!("{FILE}: {e}")))?;
                for (name, mut sequence) in read.sequences {
                    if let Some(reserved) = sequence.reserved {
                        sequence.last = Some(reserved);
                        sequence.called = true;
                    }
                    all.insert(name, sequence);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        Ok(Self {
            file,
            all: Mutex::new(all),
        })
    }

    fn save(&self, all: &BTreeMap<QualifiedName, Sequence>) -> Result<()> {
        let file = SequencesFile {
            sequences: all.iter().map(|(n, s)| (n.clone(), s.clone())).collect(),
        };
        let bytes = serde_json::to_vec_pretty(&file)
            .map_err(|e| BrookError::Storage(format!("{FILE}: {e}")))?;
        crate::durable_file::write_atomically(&self.file, &bytes)
            .map_err(|e| BrookError::Storage(format!("{FILE}: {e}")))
    }

    /// `CREATE SEQUENCE name …`; `false` when it existed (IF NOT EXISTS).
    pub fn create(
        &self,
        name: &QualifiedName,
        options: &SequenceOptions,
        max_of_type: i64,
        owned_by: Option<(QualifiedName, String)>,
        owner: i32,
        if_not_exists: bool,
    ) -> Result<bool> {
        let mut all = lock(&self.all);
        if all.contains_key(name) {
            if if_not_exists {
                return Ok(false);
            }
            return Err(BrookError::DuplicateTable(name.to_string()));
        }
        let mut sequence = Sequence::new(options, max_of_type)?;
        sequence.owned_by = owned_by;
        sequence.owner = owner;
        all.insert(name.clone(), sequence);
        if let Err(e) = self.save(&all) {
            all.remove(name);
            return Err(e);
        }
        Ok(true)
    }

    /// `DROP SEQUENCE name`; `false` when there was none.
    pub fn remove(&self, name: &QualifiedName) -> Result<bool> {
        let mut all = lock(&self.all);
        let Some(gone) = all.remove(name) else {
            return Ok(false);
        };
        if let Err(e) = self.save(&all) {
            all.insert(name.clone(), gone);
            return Err(e);
        }
        Ok(true)
    }

    /// Drop the sequences `table`'s columns own (its `serial` columns).
    pub fn drop_owned_by(&self, table: &QualifiedName) -> Result<()> {
        let mut all = lock(&self.all);
        let before = all.len();
        all.retain(|_, s| s.owned_by.as_ref().is_none_or(|(t, _)| t != table));
        if all.len() != before {
            self.save(&all)?;
        }
        Ok(())
    }

    /// After an `ALTER TABLE`: the sequences owned by a column of
    /// `moved.from` are owned by the column's new name in `moved.to`; those
    /// of a column it dropped are dropped (as PostgreSQL drops them).
    pub fn follow(&self, moved: &super::Moved) -> Result<()> {
        let mut all = lock(&self.all);
        let before = all.clone();
        all.retain(|_, s| match &s.owned_by {
            Some((table, column)) if table == &moved.from => {
                moved.columns.iter().any(|(old, _)| old == column)
            }
            _ => true,
        });
        for sequence in all.values_mut() {
            if let Some((table, column)) = &mut sequence.owned_by
                && *table == moved.from
                && let Some((_, new)) = moved.columns.iter().find(|(old, _)| old == column)
            {
                *table = moved.to.clone();
                *column = new.clone();
            }
        }
        if *all != before
            && let Err(e) = self.save(&all)
        {
            *all = before;
            return Err(e);
        }
        Ok(())
    }

    /// Drop the sequences whose owning table `is_table` does not know: a
    /// transaction that created the table (and its serial columns'
    /// sequences) ended without committing while the server stopped.
    pub fn drop_orphans(&self, is_table: impl Fn(&QualifiedName) -> bool) -> Result<()> {
        let mut all = lock(&self.all);
        let before = all.len();
        all.retain(|_, s| s.owned_by.as_ref().is_none_or(|(t, _)| is_table(t)));
        if all.len() != before {
            self.save(&all)?;
        }
        Ok(())
    }

    /// Whether sequence `name` exists.
    /// Who owns sequence `name`: the role that made it, and the table whose
    /// column owns it, if one does.
    pub fn owner_of(&self, name: &QualifiedName) -> Option<(i32, Option<QualifiedName>)> {
        let all = lock(&self.all);
        let sequence = all.get(name)?;
        Some((
            sequence.owner,
            sequence.owned_by.as_ref().map(|(t, _)| t.clone()),
        ))
    }

    pub fn exists(&self, name: &QualifiedName) -> bool {
        lock(&self.all).contains_key(name)
    }

    /// The sequence `table.column` owns, if any (`pg_get_serial_sequence`).
    pub fn owned_by(&self, table: &QualifiedName, column: &str) -> Option<QualifiedName> {
        lock(&self.all)
            .iter()
            .find(|(_, s)| {
                s.owned_by
                    .as_ref()
                    .is_some_and(|(t, c)| t == table && c == column)
            })
            .map(|(n, _)| n.clone())
    }

    /// `nextval(name)`.
    pub fn next(&self, name: &QualifiedName) -> Result<i64> {
        let mut all = lock(&self.all);
        let mut sequence = all
            .get(name)
            .cloned()
            .ok_or_else(|| BrookError::UndefinedTable(name.to_string()))?;
        let value = sequence.following(name)?;
        // A cycle that starts over lands inside what the file allowed for
        // the last round: write again, or a crash would hand it out twice.
        let wrapped = sequence.called
            && sequence.last.is_some_and(|last| {
                (sequence.increment > 0 && value <= last)
                    || (sequence.increment < 0 && value >= last)
            });
        let write = wrapped || !sequence.allows(value);
        if write {
            sequence.reserved = Some(
                sequence
                    .increment
                    .saturating_mul(PREFETCH - 1)
                    .saturating_add(value)
                    .clamp(sequence.min, sequence.max),
            );
        }
        sequence.last = Some(value);
        sequence.called = true;
        self.replace(&mut all, name, sequence, write)?;
        Ok(value)
    }

    /// `ALTER SEQUENCE name …`: saved before it is answered.
    pub fn alter(&self, name: &QualifiedName, changes: &SequenceChanges) -> Result<()> {
        let mut all = lock(&self.all);
        let sequence = all
            .get(name)
            .ok_or_else(|| BrookError::UndefinedTable(name.to_string()))?
            .altered(changes)?;
        self.replace(&mut all, name, sequence, true)
    }

    /// `setval(name, value, called)`: saved before it is answered.
    pub fn set(&self, name: &QualifiedName, value: i64, called: bool) -> Result<i64> {
        let mut all = lock(&self.all);
        let mut sequence = all
            .get(name)
            .cloned()
            .ok_or_else(|| BrookError::UndefinedTable(name.to_string()))?;
        if !(sequence.min..=sequence.max).contains(&value) {
            return Err(BrookError::SequenceLimit(format!(
                "setval: value {value} is out of bounds for sequence \"{}\" ({}..{})",
                name.name, sequence.min, sequence.max
            )));
        }
        sequence.last = Some(value);
        sequence.called = called;
        sequence.reserved = Some(value);
        self.replace(&mut all, name, sequence, true)?;
        Ok(value)
    }

    /// Put `sequence` in place of `name`'s; with `write`, only once the
    /// file says so (the old one stays if it cannot be written).
    fn replace(
        &self,
        all: &mut BTreeMap<QualifiedName, Sequence>,
        name: &QualifiedName,
        sequence: Sequence,
        write: bool,
    ) -> Result<()> {
        let old = all.insert(name.clone(), sequence);
        if write && let Err(e) = self.save(all) {
            if let Some(old) = old {
                all.insert(name.clone(), old);
            }
            return Err(e);
        }
        Ok(())
    }

    /// The sequence named `text` (`'s'`, `'sch.s'`, `'"S"'`) along `path`.
    fn resolve(&self, text: &str, path: &[String]) -> Result<QualifiedName> {
        let parts = super::names::split_text_name(text);
        let all = lock(&self.all);
        let found = match parts.as_slice() {
            [name] => path
                .iter()
                .map(|schema| QualifiedName {
                    schema: schema.clone(),
                    name: name.clone(),
                })
                .find(|q| all.contains_key(q)),
            [schema, name] => Some(QualifiedName {
                schema: schema.clone(),
                name: name.clone(),
            })
            .filter(|q| all.contains_key(q)),
            _ => None,
        };
        found.ok_or_else(|| BrookError::UndefinedTable(text.to_string()))
    }
}

/// What `currval` and `lastval` remember in one session.
#[derive(Debug, Clone, Default)]
pub struct SessionSequences(Arc<Mutex<SessionValues>>);

#[derive(Debug, Default)]
struct SessionValues {
    by_name: HashMap<QualifiedName, i64>,
    last: Option<i64>,
}

impl SessionSequences {
    fn remember(&self, name: QualifiedName, value: i64) {
        let mut values = lock(&self.0);
        values.by_name.insert(name, value);
        values.last = Some(value);
    }

    /// `DISCARD SEQUENCES` / `DISCARD ALL`.
    pub fn forget(&self) {
        *lock(&self.0) = SessionValues::default();
    }
}

impl ExtensionOptions for SessionSequences {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, _value: &str) -> DfResult<()> {
        Err(DataFusionError::Configuration(format!(
            "\"{key}\" is not a setting"
        )))
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        vec![]
    }
}

impl ConfigExtension for SessionSequences {
    const PREFIX: &'static str = "brook_sequences";
}

fn df(e: BrookError) -> DataFusionError {
    crate::error::external(e)
}

fn session(config: &ConfigOptions) -> Option<&SessionSequences> {
    config.extensions.get::<SessionSequences>()
}

/// `nextval`, `currval`, `setval` and `lastval` over `sequences`.
pub fn udfs(sequences: Arc<Sequences>) -> Vec<ScalarUDF> {
    let next = {
        let sequences = sequences.clone();
        move |args: &[ColumnarValue], config: &ConfigOptions, rows: usize| {
            let names = ColumnarValue::values_to_arrays(args)?;
            let names = as_string_array(&names[0])?;
            let path = lookup_path(config);
            let mut out = Vec::with_capacity(rows);
            for i in 0..rows {
                let at = if names.len() == 1 { 0 } else { i };
                if names.is_null(at) {
                    out.push(None);
                    continue;
                }
                let name = sequences.resolve(names.value(at), &path).map_err(df)?;
                let value = sequences.next(&name).map_err(df)?;
                if let Some(s) = session(config) {
                    s.remember(name, value);
                }
                out.push(Some(value));
            }
            Ok(ColumnarValue::Array(
                Arc::new(Int64Array::from(out)) as ArrayRef
            ))
        }
    };
    let current = {
        let sequences = sequences.clone();
        move |args: &[ColumnarValue], config: &ConfigOptions, _rows: usize| {
            let names = ColumnarValue::values_to_arrays(args)?;
            let names = as_string_array(&names[0])?;
            let path = lookup_path(config);
            let mut out = Vec::with_capacity(names.len());
            for i in 0..names.len() {
                if names.is_null(i) {
                    out.push(None);
                    continue;
                }
                let name = sequences.resolve(names.value(i), &path).map_err(df)?;
                let value = session(config)
                    .and_then(|s| lock(&s.0).by_name.get(&name).copied())
                    .ok_or_else(|| {
                        df(BrookError::SequenceState(format!(
                            "currval of sequence \"{}\" is not yet defined in this session",
                            name.name
                        )))
                    })?;
                out.push(Some(value));
            }
            Ok(ColumnarValue::Array(
                Arc::new(Int64Array::from(out)) as ArrayRef
            ))
        }
    };
    let set = {
        let sequences = sequences.clone();
        move |args: &[ColumnarValue], config: &ConfigOptions, _rows: usize| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let names = as_string_array(&arrays[0])?;
            let values = as_int64_array(&arrays[1])?;
            let called = match arrays.get(2) {
                Some(c) => Some(as_boolean_array(c)?.clone()),
                None => None,
            };
            let path = lookup_path(config);
            let mut out = Vec::with_capacity(names.len());
            for i in 0..names.len() {
                if names.is_null(i) || values.is_null(i) {
                    out.push(None);
                    continue;
                }
                let name = sequences.resolve(names.value(i), &path).map_err(df)?;
                let called = called.as_ref().is_none_or(|c| c.is_null(i) || c.value(i));
                let value = sequences.set(&name, values.value(i), called).map_err(df)?;
                if called && let Some(s) = session(config) {
                    s.remember(name, value);
                }
                out.push(Some(value));
            }
            Ok(ColumnarValue::Array(
                Arc::new(Int64Array::from(out)) as ArrayRef
            ))
        }
    };
    let last = move |_: &[ColumnarValue], config: &ConfigOptions, _rows: usize| {
        let value = session(config)
            .and_then(|s| lock(&s.0).last)
            .ok_or_else(|| {
                df(BrookError::SequenceState(
                    "lastval is not yet defined in this session".into(),
                ))
            })?;
        Ok(ColumnarValue::Scalar(ScalarValue::Int64(Some(value))))
    };
    let serial = {
        let sequences = sequences.clone();
        move |args: &[ColumnarValue], config: &ConfigOptions, _rows: usize| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let tables = as_string_array(&arrays[0])?;
            let columns = as_string_array(&arrays[1])?;
            let path = lookup_path(config);
            let names: StringArray = (0..tables.len())
                .map(|i| {
                    if tables.is_null(i) || columns.is_null(i) {
                        return None;
                    }
                    let column = columns.value(i);
                    let candidates: Vec<QualifiedName> =
                        match super::names::split_text_name(tables.value(i)).as_slice() {
                            [table] => path
                                .iter()
                                .map(|schema| QualifiedName {
                                    schema: schema.clone(),
                                    name: table.clone(),
                                })
                                .collect(),
                            [schema, table] => vec![QualifiedName {
                                schema: schema.clone(),
                                name: table.clone(),
                            }],
                            _ => vec![],
                        };
                    candidates
                        .iter()
                        .find_map(|t| sequences.owned_by(t, column))
                        .map(|s| format!("{}.{}", quote_ident(&s.schema), quote_ident(&s.name)))
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(names) as ArrayRef))
        }
    };
    let text = Signature::exact(vec![DataType::Utf8], Volatility::Volatile);
    vec![
        with_session("nextval", text.clone(), DataType::Int64, Arc::new(next)),
        with_session("currval", text, DataType::Int64, Arc::new(current)),
        with_session(
            "setval",
            Signature::one_of(
                vec![
                    TypeSignature::Exact(vec![DataType::Utf8, DataType::Int64]),
                    TypeSignature::Exact(vec![DataType::Utf8, DataType::Int64, DataType::Boolean]),
                ],
                Volatility::Volatile,
            ),
            DataType::Int64,
            Arc::new(set),
        ),
        with_session(
            "pg_get_serial_sequence",
            Signature::exact(vec![DataType::Utf8, DataType::Utf8], Volatility::Volatile),
            DataType::Utf8,
            Arc::new(serial),
        ),
        with_session(
            "lastval",
            Signature::exact(vec![], Volatility::Volatile),
            DataType::Int64,
            Arc::new(last),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str) -> QualifiedName {
        QualifiedName {
            schema: "public".into(),
            name: n.into(),
        }
    }

    #[test]
    fn values_are_never_handed_out_twice_across_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let sequences = Sequences::open(dir.path()).unwrap();
        sequences
            .create(
                &name("s"),
                &SequenceOptions::default(),
                i64::MAX,
                None,
                10,
                false,
            )
            .unwrap();
        let first: Vec<i64> = (0..5)
            .map(|_| sequences.next(&name("s")).unwrap())
            .collect();
        assert_eq!(first, [1, 2, 3, 4, 5]);
        drop(sequences);
        // As after a crash: the values the file allowed are skipped.
        let reopened = Sequences::open(dir.path()).unwrap();
        let next = reopened.next(&name("s")).unwrap();
        assert_eq!(next, PREFETCH + 1);
        reopened.set(&name("s"), 100, false).unwrap();
        assert_eq!(reopened.next(&name("s")).unwrap(), 100);
        assert_eq!(reopened.next(&name("s")).unwrap(), 101);
        drop(reopened);
        let again = Sequences::open(dir.path()).unwrap();
        assert!(again.next(&name("s")).unwrap() > 101);
    }

    #[test]
    fn bounds_and_steps() {
        let dir = tempfile::tempdir().unwrap();
        let sequences = Sequences::open(dir.path()).unwrap();
        let options = SequenceOptions {
            increment: Some(-2),
            max: Some(10),
            min: Some(5),
            start: None,
            cycle: false,
        };
        sequences
            .create(&name("down"), &options, i64::MAX, None, 10, false)
            .unwrap();
        let got: Vec<i64> = (0..3)
            .map(|_| sequences.next(&name("down")).unwrap())
            .collect();
        assert_eq!(got, [10, 8, 6]);
        let err = sequences.next(&name("down")).unwrap_err();
        assert!(err.to_string().contains("reached minimum value"), "{err}");
        assert!(
            sequences
                .create(&name("down"), &options, i64::MAX, None, 10, false)
                .is_err()
        );
    }

    #[test]
    fn a_cycle_starts_over_and_a_reopen_never_goes_back_in_a_round() {
        let dir = tempfile::tempdir().unwrap();
        let sequences = Sequences::open(dir.path()).unwrap();
        let options = SequenceOptions {
            max: Some(3),
            cycle: true,
            ..SequenceOptions::default()
        };
        sequences
            .create(&name("c"), &options, i64::MAX, None, 10, false)
            .unwrap();
        let got: Vec<i64> = (0..5)
            .map(|_| sequences.next(&name("c")).unwrap())
            .collect();
        assert_eq!(got, [1, 2, 3, 1, 2]);
        let long = SequenceOptions {
            max: Some(2000),
            cycle: true,
            ..SequenceOptions::default()
        };
        sequences
            .create(&name("long"), &long, i64::MAX, None, 10, false)
            .unwrap();
        for _ in 0..2002 {
            sequences.next(&name("long")).unwrap();
        }
        drop(sequences);
        // As after a crash in the second round, which has handed out 1 and 2:
        // the round goes on past what the file allowed, never back to them.
        let reopened = Sequences::open(dir.path()).unwrap();
        let next = reopened.next(&name("long")).unwrap();
        assert!((3..=2000).contains(&next), "{next}");
    }

    #[test]
    fn alter_restarts_changes_steps_and_checks_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let sequences = Sequences::open(dir.path()).unwrap();
        sequences
            .create(
                &name("a"),
                &SequenceOptions::default(),
                i32::MAX.into(),
                None,
                10,
                false,
            )
            .unwrap();
        for _ in 0..3 {
            sequences.next(&name("a")).unwrap();
        }
        let step = SequenceChanges {
            increment: Some(10),
            ..SequenceChanges::default()
        };
        sequences.alter(&name("a"), &step).unwrap();
        assert_eq!(sequences.next(&name("a")).unwrap(), 13);
        drop(sequences);
        let sequences = Sequences::open(dir.path()).unwrap();
        assert!(sequences.next(&name("a")).unwrap() > 13);
        let restart = SequenceChanges {
            restart: Some(Some(100)),
            ..SequenceChanges::default()
        };
        sequences.alter(&name("a"), &restart).unwrap();
        assert_eq!(sequences.next(&name("a")).unwrap(), 100);
        assert_eq!(sequences.next(&name("a")).unwrap(), 110);
        // AS bigint: the default maximum follows the type.
        let wider = SequenceChanges {
            type_max: Some(i64::MAX),
            ..SequenceChanges::default()
        };
        sequences.alter(&name("a"), &wider).unwrap();
        let too_low = SequenceChanges {
            restart: Some(Some(0)),
            ..SequenceChanges::default()
        };
        let err = sequences.alter(&name("a"), &too_low).unwrap_err();
        assert!(
            err.to_string()
                .contains("RESTART value (0) cannot be less than MINVALUE (1)"),
            "{err}"
        );
        // The refused change left the sequence as it was.
        assert_eq!(sequences.next(&name("a")).unwrap(), 120);
    }
}
