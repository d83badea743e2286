//! Postgres column types ↔ Arrow types for durable tables.
//!
//! A type is recognised from its SQL spelling (as sqlparser prints it), so every
//! alias Postgres accepts (`int4`, `character varying(20)`, `timestamptz` …) maps
//! to one Arrow type that Delta Lake can store. Timestamps are microseconds, as
//! in Postgres and Delta.

use datafusion::arrow::datatypes::{DataType, TimeUnit};

use crate::error::{BrookError, Result};

/// The Arrow type a column is stored as, and the Postgres name shown back in `\d`.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnType {
    pub arrow: DataType,
    pub pg_name: String,
}

/// A type spelling's name and its modifiers: `("varchar", [20])`.
fn split_spelling(sql_type: &str) -> Result<(String, Vec<u32>)> {
    let spelled = sql_type.trim().to_ascii_lowercase();
    Ok(match spelled.find('(') {
        Some(open) => {
            let close = spelled.rfind(')').unwrap_or(spelled.len());
            let inner = spelled.get(open + 1..close).unwrap_or("");
            (spelled[..open].trim().to_string(), parse_args(inner)?)
        }
        None => (spelled, vec![]),
    })
}

/// Map a SQL type spelling (`"varchar(20)"`, `"numeric(10, 2)"`) to its storage type.
pub fn column_type(sql_type: &str) -> Result<ColumnType> {
    let spelled = sql_type.trim().to_ascii_lowercase();
    let (base, args) = split_spelling(&spelled)?;
    let (arrow, pg_name) = match base.as_str() {
        "boolean" | "bool" => (DataType::Boolean, "boolean".to_string()),
        "smallint" | "int2" => (DataType::Int16, "smallint".to_string()),
        "int" | "integer" | "int4" => (DataType::Int32, "integer".to_string()),
        "bigint" | "int8" => (DataType::Int64, "bigint".to_string()),
        "real" | "float4" => (DataType::Float32, "real".to_string()),
        "double precision" | "double" | "float8" | "float" => {
            (DataType::Float64, "double precision".to_string())
        }
        "numeric" | "decimal" => {
            let precision = args.first().copied().unwrap_or(38);
            let scale = args
                .get(1)
                .copied()
                .unwrap_or(if args.is_empty() { 10 } else { 0 });
            if !(1..=38).contains(&precision) || scale > precision {
                return Err(BrookError::InvalidText(format!(
                    "NUMERIC precision {precision} must be between 1 and 38, and scale {scale} at most the precision"
                )));
            }
            let name = if args.is_empty() {
                "numeric".to_string()
            } else {
                format!("numeric({precision},{scale})")
            };
            (DataType::Decimal128(precision as u8, scale as i8), name)
        }
        "text" | "string" => (DataType::Utf8, "text".to_string()),
        "varchar" | "character varying" => {
            (DataType::Utf8, with_length("character varying", &args))
        }
        "char" | "character" | "bpchar" => (DataType::Utf8, with_length("character", &args)),
        "json" => (DataType::Utf8, "json".to_string()),
        "jsonb" => (DataType::Utf8, "jsonb".to_string()),
        "uuid" => (DataType::Utf8, "uuid".to_string()),
        "bytea" => (DataType::Binary, "bytea".to_string()),
        "date" => (DataType::Date32, "date".to_string()),
        "timestamp" | "timestamp without time zone" => (
            DataType::Timestamp(TimeUnit::Microsecond, None),
            "timestamp without time zone".to_string(),
        ),
        "timestamptz" | "timestamp with time zone" => (
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            "timestamp with time zone".to_string(),
        ),
        _ => return Err(BrookError::Unsupported(format!("column type {spelled}"))),
    };
    Ok(ColumnType { arrow, pg_name })
}

/// The Postgres name of an Arrow type, for columns whose type comes from a query
/// (`CREATE TABLE … AS SELECT`) rather than from a spelled type.
pub fn column_type_for_arrow(arrow: &DataType) -> Result<ColumnType> {
    let spelled = match arrow {
        DataType::Boolean => "boolean",
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => "smallint",
        DataType::Int32 | DataType::UInt16 => "integer",
        DataType::Int64 | DataType::UInt32 => "bigint",
        DataType::UInt64 => "numeric(20,0)",
        DataType::Float16 | DataType::Float32 => "real",
        DataType::Float64 => "double precision",
        DataType::Decimal128(p, s) => return Ok(decimal(*p, *s)),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "text",
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "bytea",
        DataType::Date32 | DataType::Date64 => "date",
        DataType::Timestamp(_, None) => "timestamp",
        DataType::Timestamp(_, Some(_)) => "timestamptz",
        DataType::Null => "text",
        other => return Err(BrookError::Unsupported(format!("a column of type {other}"))),
    };
    column_type(spelled)
}

fn decimal(precision: u8, scale: i8) -> ColumnType {
    ColumnType {
        arrow: DataType::Decimal128(precision, scale),
        pg_name: format!("numeric({precision},{scale})"),
    }
}

/// The PostgreSQL type OID and typmod of a column's Postgres name
/// ([`ColumnType::pg_name`]) where they say more than its Arrow type does:
/// a length, a precision and scale, or a type stored as text (json, jsonb,
/// uuid). What `pg_attribute.atttypid`/`atttypmod` show.
pub fn pg_oid_and_typmod(pg_name: &str) -> Option<(i32, i32)> {
    let (base, args) = split_spelling(pg_name).ok()?;
    let args: Vec<i32> = args
        .iter()
        .map(|&a| i32::try_from(a).ok())
        .collect::<Option<_>>()?;
    match (base.as_str(), args.as_slice()) {
        ("character varying", [n]) => Some((1043, n + 4)),
        ("character varying", []) => Some((1043, -1)),
        ("numeric", [p]) => Some((1700, (p << 16) + 4)),
        ("numeric", [p, s]) => Some((1700, ((p << 16) | s) + 4)),
        ("json", []) => Some((114, -1)),
        ("jsonb", []) => Some((3802, -1)),
        ("uuid", []) => Some((2950, -1)),
        _ => None,
    }
}

fn with_length(name: &str, args: &[u32]) -> String {
    match args.first() {
        Some(n) => format!("{name}({n})"),
        None => name.to_string(),
    }
}

fn parse_args(inner: &str) -> Result<Vec<u32>> {
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<u32>()
                .map_err(|_| BrookError::InvalidText(format!("invalid type modifier \"{s}\"")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn typmods_are_postgresqls() {
        assert_eq!(pg_oid_and_typmod("character varying(80)"), Some((1043, 84)));
        assert_eq!(pg_oid_and_typmod("numeric(10,2)"), Some((1700, 655_366)));
        assert_eq!(pg_oid_and_typmod("numeric(5)"), Some((1700, 327_684)));
        assert_eq!(pg_oid_and_typmod("uuid"), Some((2950, -1)));
        assert_eq!(pg_oid_and_typmod("integer"), None);
    }

    #[test]
    fn aliases_map_to_one_storage_type() {
        assert_eq!(column_type("INT4").unwrap().arrow, DataType::Int32);
        assert_eq!(column_type("integer").unwrap().pg_name, "integer");
        assert_eq!(
            column_type("character varying(20)").unwrap().pg_name,
            "character varying(20)"
        );
        assert_eq!(
            column_type("NUMERIC(10, 2)").unwrap().arrow,
            DataType::Decimal128(10, 2)
        );
        assert_eq!(
            column_type("timestamptz").unwrap().arrow,
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        assert_eq!(column_type("jsonb").unwrap().arrow, DataType::Utf8);
    }

    #[test]
    fn unknown_types_are_unsupported_not_guessed() {
        let err = column_type("interval").unwrap_err();
        assert_eq!(err.sqlstate(), "0A000");
        assert_eq!(
            column_type("numeric(50,2)").unwrap_err().sqlstate(),
            "22P02"
        );
    }
}
