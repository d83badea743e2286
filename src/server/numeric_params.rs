//! `numeric` parameters in exponent notation, as PostgreSQL's `numeric_in`
//! reads them.
//!
//! psycopg 3 sends a `Decimal` as Python writes it: `-1E-10` for
//! `Decimal("-0.0000000001")`. PostgreSQL reads that; pgwire's decimal
//! parser (rust_decimal) does not ("Invalid decimal: unknown character"),
//! so an application's small or large decimals failed to bind. Before a
//! portal runs, each text-format parameter the statement takes as
//! `numeric` is rewritten in plain notation: the same digits, the same
//! scale (`0E-12` is `0.000000000000`), nothing rounded.

use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::datatypes::DataType;
use pgwire::api::Type;
use pgwire::api::portal::{Format, Portal};

use super::statements::StoredStatement;

/// A portal like `portal` with its numeric parameters in plain notation,
/// if any was written with an exponent.
pub fn plain(portal: &Portal<StoredStatement>) -> Option<Portal<StoredStatement>> {
    let numeric = |i: usize| -> bool {
        let declared = portal
            .statement
            .parameter_types
            .get(i)
            .and_then(|t| t.as_ref());
        match declared {
            Some(t) if *t == Type::NUMERIC => true,
            Some(t) if *t != Type::UNKNOWN => false,
            _ => inferred_decimal(&portal.statement.statement, i),
        }
    };
    let mut changed = false;
    let parameters: Vec<Option<Bytes>> = portal
        .parameters
        .iter()
        .enumerate()
        .map(|(i, value)| {
            let Some(bytes) = value else {
                return None;
            };
            let text = matches!(
                portal.parameter_format.format_for(i),
                pgwire::api::results::FieldFormat::Text
            );
            let plain = (text && numeric(i))
                .then(|| std::str::from_utf8(bytes).ok().and_then(expand))
                .flatten();
            match plain {
                Some(plain) => {
                    changed = true;
                    Some(Bytes::from(plain))
                }
                None => Some(bytes.clone()),
            }
        })
        .collect();
    if !changed {
        return None;
    }
    let mut copy = Portal::default();
    copy.name = portal.name.clone();
    copy.statement = Arc::clone(&portal.statement);
    copy.parameter_format = match &portal.parameter_format {
        Format::UnifiedText => Format::UnifiedText,
        Format::UnifiedBinary => Format::UnifiedBinary,
        Format::Individual(formats) => Format::Individual(formats.clone()),
    };
    copy.parameters = parameters;
    copy.result_column_format = match &portal.result_column_format {
        Format::UnifiedText => Format::UnifiedText,
        Format::UnifiedBinary => Format::UnifiedBinary,
        Format::Individual(formats) => Format::Individual(formats.clone()),
    };
    copy.state = Arc::clone(&portal.state);
    Some(copy)
}

/// Whether the statement's plan types parameter `i` (0-based) as a decimal.
fn inferred_decimal(statement: &StoredStatement, i: usize) -> bool {
    let (_, Some((_, plan))) = statement else {
        return false;
    };
    plan.get_parameter_types().is_ok_and(|types| {
        matches!(
            types.get(&format!("${}", i + 1)),
            Some(Some(DataType::Decimal128(..) | DataType::Decimal256(..)))
        )
    })
}

/// `text` in plain notation if it is a number with an exponent
/// (`-1.5E-3` → `-0.0015`, `2E+2` → `200`); `None` otherwise.
pub fn expand(text: &str) -> Option<String> {
    let text = text.trim();
    let (mantissa, exponent) = text.split_once(['e', 'E'])?;
    let exponent: i64 = exponent.parse().ok()?;
    let (sign, mantissa) = match mantissa.as_bytes().first()? {
        b'-' => ("-", &mantissa[1..]),
        b'+' => ("", &mantissa[1..]),
        _ => ("", mantissa),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
        || exponent.unsigned_abs() > 1000
    {
        return None;
    }
    let digits = format!("{whole}{fraction}");
    // Where the point falls in `digits` once the exponent is applied.
    let point = whole.len() as i64 + exponent;
    let (int_part, frac_part) = if point <= 0 {
        (
            "0".to_string(),
            format!("{}{digits}", "0".repeat(point.unsigned_abs() as usize)),
        )
    } else if point as usize >= digits.len() {
        (
            format!("{digits}{}", "0".repeat(point as usize - digits.len())),
            String::new(),
        )
    } else {
        (
            digits[..point as usize].to_string(),
            digits[point as usize..].to_string(),
        )
    };
    let int_part = match int_part.trim_start_matches('0') {
        "" => "0",
        trimmed => trimmed,
    };
    Some(if frac_part.is_empty() {
        format!("{sign}{int_part}")
    } else {
        format!("{sign}{int_part}.{frac_part}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each as Python's `Decimal` reads it.
    #[test]
    fn exponents_become_plain_notation() {
        assert_eq!(expand("-1E-10").as_deref(), Some("-0.0000000001"));
        assert_eq!(expand("1.5E+3").as_deref(), Some("1500"));
        assert_eq!(expand("1.2345E2").as_deref(), Some("123.45"));
        assert_eq!(expand("0E-12").as_deref(), Some("0.000000000000"));
        assert_eq!(expand("12.5e-1").as_deref(), Some("1.25"));
        assert_eq!(expand("7E0").as_deref(), Some("7"));
        assert_eq!(expand("12.34"), None);
        assert_eq!(expand("NaN"), None);
        assert_eq!(expand("1E5x"), None);
        assert_eq!(expand("abcE5"), None);
    }
}
