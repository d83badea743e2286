//! How much disk a relation takes: `pg_table_size`, `pg_relation_size`,
//! `pg_total_relation_size`, `pg_indexes_size` (psql's `\dt+` and `\l+`,
//! DBeaver's and pgAdmin's table lists), and `pg_size_pretty` to print it.
//!
//! A Brook table is a directory of Parquet files and its commit log; its
//! size is what that directory holds. Views take no space and Brook builds
//! no index structures, so both are 0 (PostgreSQL's answer for a view and
//! for a table without indexes). An OID that names no relation is NULL.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{Array, ArrayRef, Int64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result as DfResult;
use datafusion::common::config::ConfigOptions;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Signature, TypeSignature, Volatility};

use super::functions::{Snapshot, arrays, oid_signature, oids, seen};
use crate::catalog::Catalog;
use crate::catalog::names::QualifiedName;
use crate::catalog::settings::with_session;

/// Which size a function reports.
#[derive(Clone, Copy)]
enum Part {
    /// The table's data (`pg_table_size`, `pg_relation_size`,
    /// `pg_total_relation_size`).
    Data,
    /// Its indexes (`pg_indexes_size`): none are built.
    Indexes,
}

/// The size functions, answering from `catalog` once it is open.
pub fn functions(snapshot: Arc<Snapshot>, catalog: Arc<OnceLock<Arc<Catalog>>>) -> Vec<ScalarUDF> {
    let sized = |name: &str, part: Part, extra: &[DataType]| {
        let (snapshot, catalog) = (snapshot.clone(), catalog.clone());
        let function = move |args: &[ColumnarValue], config: &ConfigOptions, _rows: usize| {
            let (arrays, _) = arrays(args)?;
            let oids = oids(&arrays[0])?;
            // `pg_relation_size(oid, fork)`: only the main fork holds data.
            let main_fork = match arrays.get(1) {
                Some(forks) => {
                    let forks = cast(forks, &DataType::Utf8)?;
                    let forks = datafusion::common::cast::as_string_array(&forks)?;
                    (0..forks.len())
                        .map(|i| forks.is_valid(i) && forks.value(i) == "main")
                        .collect()
                }
                None => vec![true; oids.len()],
            };
            let (current, _) = seen(&snapshot, config)?;
            let sizes: Int64Array = (0..oids.len())
                .map(|row| {
                    if oids.is_null(row) {
                        return None;
                    }
                    let oid = i32::try_from(oids.value(row)).ok()?;
                    let (schema, name) = current.relations.name_of(oid)?;
                    if !main_fork[row] {
                        return Some(0);
                    }
                    Some(match (part, catalog.get()) {
                        (Part::Data, Some(catalog)) => catalog
                            .table(&QualifiedName { schema, name })
                            .map_or(0, |table| directory_size(table.dir())),
                        _ => 0,
                    })
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(sizes) as ArrayRef))
        };
        with_session(
            name,
            oid_signature(extra),
            DataType::Int64,
            Arc::new(function),
        )
    };
    vec![
        sized("pg_table_size", Part::Data, &[]),
        sized("pg_total_relation_size", Part::Data, &[]),
        sized("pg_relation_size", Part::Data, &[DataType::Utf8]),
        sized("pg_indexes_size", Part::Indexes, &[]),
        pg_size_pretty(),
    ]
}

/// The bytes of every file under `dir`.
fn directory_size(dir: &Path) -> i64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => directory_size(&entry.path()),
            Ok(_) => entry
                .metadata()
                .map_or(0, |m| i64::try_from(m.len()).unwrap_or(i64::MAX)),
            Err(_) => 0,
        })
        .sum()
}

/// `pg_size_pretty(bytes)` with PostgreSQL 15's units and rounding.
fn pg_size_pretty() -> ScalarUDF {
    let function = |args: &[ColumnarValue]| -> DfResult<ColumnarValue> {
        let (arrays, _) = arrays(args)?;
        let bytes = cast(&arrays[0], &DataType::Int64)?;
        let bytes = datafusion::common::cast::as_int64_array(&bytes)?;
        let texts: StringArray = bytes.iter().map(|b| b.map(size_pretty)).collect();
        Ok(ColumnarValue::Array(Arc::new(texts) as ArrayRef))
    };
    let forms = [DataType::Int64, DataType::Int32, DataType::Float64]
        .into_iter()
        .map(|t| TypeSignature::Exact(vec![t]))
        .chain([TypeSignature::Numeric(1)])
        .collect();
    ScalarUDF::new_from_impl(
        datafusion::logical_expr::SimpleScalarUDF::new_with_signature(
            "pg_size_pretty",
            Signature::one_of(forms, Volatility::Immutable),
            DataType::Utf8,
            Arc::new(function),
        ),
    )
}

/// PostgreSQL's `pg_size_pretty` (src/backend/utils/adt/dbsize.c): bytes
/// below 10 kB, then each unit while the value stays below 20 × 1024 − 1
/// of it, halves rounded away from zero.
fn size_pretty(bytes: i64) -> String {
    // (name, limit, rounded, bits)
    const UNITS: [(&str, i64, bool, u32); 6] = [
        ("bytes", 10 * 1024, false, 0),
        ("kB", 20 * 1024 - 1, true, 10),
        ("MB", 20 * 1024 - 1, true, 20),
        ("GB", 20 * 1024 - 1, true, 30),
        ("TB", 20 * 1024 - 1, true, 40),
        ("PB", 20 * 1024 - 1, true, 50),
    ];
    let half_rounded = |x: i64| (x + if x < 0 { -1 } else { 1 }) / 2;
    let mut size = bytes;
    for (i, (name, limit, rounded, bits)) in UNITS.iter().enumerate() {
        let last = i + 1 == UNITS.len();
        if last || size.unsigned_abs() < limit.unsigned_abs() {
            if *rounded {
                size = half_rounded(size);
            }
            return format!("{size} {name}");
        }
        let (_, _, next_rounded, next_bits) = UNITS[i + 1];
        let shift = next_bits - bits - u32::from(next_rounded) + u32::from(*rounded);
        size /= 1i64 << shift;
    }
    format!("{size} bytes")
}

#[cfg(test)]
mod tests {
    use super::size_pretty;

    #[test]
    fn sizes_print_as_postgresql_prints_them() {
        // From PostgreSQL 15's regression test dbsize.out.
        for (bytes, text) in [
            (10, "10 bytes"),
            (1000, "1000 bytes"),
            (1_000_000, "977 kB"),
            (1_000_000_000, "954 MB"),
            (1_000_000_000_000, "931 GB"),
            (1_000_000_000_000_000, "909 TB"),
            (-10, "-10 bytes"),
            (-1_000_000, "-977 kB"),
            (10_239, "10239 bytes"),
            (10_240, "10 kB"),
            (20_970_496, "20 MB"),
            (20_971_519, "20 MB"),
            (10_485_759, "10 MB"),
            (10_485_760, "10 MB"),
        ] {
            assert_eq!(size_pretty(bytes), text, "{bytes}");
        }
    }
}
