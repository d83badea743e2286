//! Floats and timestamps in text as PostgreSQL writes them.
//!
//! pgwire 0.41 writes a float with ryu's layout: `2.0` for two, `1e20`,
//! `1e-5`, `inf`. PostgreSQL writes `2`, `1e+20`, `1e-05`, `Infinity`
//! (`float8out`: the shortest digits that read back as the same value, in
//! fixed notation for decimal exponents from -4 up to 14 — 5 for `real` —
//! else in printf's `%e` layout; with `extra_float_digits` of 0 or less,
//! printf's `%.{15+n}g`). A psql user saw `2.0` where PostgreSQL shows `2`,
//! and a program comparing text saw another value. pgwire has no hook for
//! the layout, so the text of float columns is rewritten in the rows it
//! encoded: the value is read back (the text is exact: shortest
//! round-trip digits, or already rounded to the digits asked for) and
//! written again.
//!
//! Timestamps: pgwire writes every fraction (`12:00:00.000000`), where
//! PostgreSQL writes none when it is zero and no trailing zeros
//! (`12:00:00`, `12:00:00.5`); and a `timestamptz` read from a table was
//! written in the zone it was stored with, where PostgreSQL writes every
//! one in the session's `TimeZone` (`SET TIME ZONE` changes what is shown,
//! never what is stored).
//!
//! `uuid` and `jsonb` columns in binary format: Brook holds both as text
//! (their canonical form), which pgwire would send as the text's bytes. A
//! client that asked for binary reads a uuid as its 16 bytes and a jsonb
//! as a version byte (1) before the text, so those fields are rewritten
//! too; `json` and `varchar` are text in binary format as well.

use bytes::{BufMut, BytesMut};
use chrono::{DateTime, FixedOffset};
use datafusion::arrow::array::timezone::Tz;
use pgwire::api::Type;
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::messages::data::DataRow;

use crate::storage::text_types::uuid_bytes;

/// `double precision`'s digits (`DBL_DIG`) and `real`'s (`FLT_DIG`).
const DOUBLE_DIGITS: i32 = 15;
const REAL_DIGITS: i32 = 6;

/// What a column holds, for writing it again.
#[derive(Debug, Clone)]
enum Kind {
    /// `real` or `double precision`, with the session's
    /// `extra_float_digits`.
    Real(i8),
    Double(i8),
    Timestamp,
    /// In the session's zone.
    TimestampTz(Tz),
    /// Binary `uuid` and `jsonb`, which Brook keeps as text
    /// (`catalog::declared_types`): pgwire sends the text, PostgreSQL a
    /// uuid's 16 bytes and jsonb's version byte (1) before the text.
    UuidBinary,
    JsonbBinary,
}

/// The text-format float and timestamp columns of a result, by position.
#[derive(Debug, Clone)]
pub struct TextColumns {
    columns: Vec<(usize, Kind)>,
}

impl TextColumns {
    /// The columns of `schema` to rewrite, if there are any; `zone` is the
    /// session's `TimeZone` (UTC if unset or unknown).
    pub fn of(schema: &[FieldInfo], zone: Option<&str>) -> Option<Self> {
        let zone = zone
            .and_then(|z| z.parse::<Tz>().ok())
            .or_else(|| "UTC".parse::<Tz>().ok())?;
        let columns: Vec<(usize, Kind)> = schema
            .iter()
            .enumerate()
            .filter_map(|(i, f)| {
                let digits = f.format_options().extra_float_digits;
                let kind = match (f.format(), f.datatype().clone()) {
                    (FieldFormat::Text, Type::FLOAT4) => Kind::Real(digits),
                    (FieldFormat::Text, Type::FLOAT8) => Kind::Double(digits),
                    (FieldFormat::Text, Type::TIMESTAMP) => Kind::Timestamp,
                    (FieldFormat::Text, Type::TIMESTAMPTZ) => Kind::TimestampTz(zone),
                    (FieldFormat::Binary, Type::UUID) => Kind::UuidBinary,
                    (FieldFormat::Binary, Type::JSONB) => Kind::JsonbBinary,
                    _ => return None,
                };
                Some((i, kind))
            })
            .collect();
        (!columns.is_empty()).then_some(Self { columns })
    }

    /// `row` with its float columns' text rewritten; any field it cannot
    /// read is passed on as it came.
    pub fn rewrite(&self, mut row: DataRow) -> DataRow {
        let Some(fields) = split(&row.data) else {
            return row;
        };
        let mut data = BytesMut::with_capacity(row.data.len() + 8);
        for (i, field) in fields.into_iter().enumerate() {
            let Some(value) = field else {
                data.put_i32(-1);
                continue;
            };
            let column = self.columns.iter().find(|(c, _)| *c == i);
            let written: Option<Vec<u8>> = column.and_then(|(_, kind)| {
                let text = std::str::from_utf8(value).ok()?;
                let text = match kind {
                    Kind::Real(extra) => real_text(text.parse::<f32>().ok()?, *extra),
                    Kind::Double(extra) => double_text(text.parse::<f64>().ok()?, *extra),
                    Kind::Timestamp => trim_fraction(text).to_string(),
                    Kind::TimestampTz(zone) => zoned(text, zone)?,
                    Kind::UuidBinary => return Some(uuid_bytes(text)?.to_vec()),
                    Kind::JsonbBinary => return Some([&[1u8], value].concat()),
                };
                Some(text.into_bytes())
            });
            let bytes = written.as_deref().unwrap_or(value);
            data.put_i32(bytes.len() as i32);
            data.put_slice(bytes);
        }
        row.data = data;
        row
    }
}

/// `2024-01-01 12:00:00.500000` as `2024-01-01 12:00:00.5`, and
/// `…:00.000000` as `…:00` (the offset after it, if any, kept).
fn trim_fraction(text: &str) -> std::borrow::Cow<'_, str> {
    let Some(dot) = text.find('.') else {
        return text.into();
    };
    let digits = text[dot + 1..]
        .find(|c: char| !c.is_ascii_digit())
        .map_or(text.len(), |n| dot + 1 + n);
    let fraction = text[dot + 1..digits].trim_end_matches('0');
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..dot]);
    if !fraction.is_empty() {
        out.push('.');
        out.push_str(fraction);
    }
    out.push_str(&text[digits..]);
    out.into()
}

/// A `timestamptz`'s text (`2024-01-01 10:00:00.000000+00`) written in
/// `zone` as PostgreSQL writes it (`2024-01-01 05:00:00-05`).
fn zoned(text: &str, zone: &Tz) -> Option<String> {
    // pgwire writes the offset as `+00` or `+05:30`; chrono wants minutes.
    let split = text.rfind(['+', '-']).filter(|&i| i > 10)?;
    let (moment, offset) = text.split_at(split);
    let offset = if offset.len() == 3 {
        format!("{offset}:00")
    } else {
        offset.to_string()
    };
    let parsed = DateTime::<FixedOffset>::parse_from_str(
        &format!("{moment}{offset}"),
        "%Y-%m-%d %H:%M:%S%.f%:z",
    )
    .ok()?;
    Some(crate::semantics::zoned_text_of(
        parsed.timestamp_micros(),
        zone,
    ))
}

/// The fields of a DataRow's body (`None` for NULL), or `None` if it is
/// not well formed.
fn split(data: &[u8]) -> Option<Vec<Option<&[u8]>>> {
    let mut fields = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let (len, tail) = rest.split_at_checked(4)?;
        let len = i32::from_be_bytes(len.try_into().ok()?);
        if len < 0 {
            fields.push(None);
            rest = tail;
            continue;
        }
        let (value, tail) = tail.split_at_checked(usize::try_from(len).ok()?)?;
        fields.push(Some(value));
        rest = tail;
    }
    Some(fields)
}

/// A `double precision` as PostgreSQL's `float8out` writes it.
pub fn double_text(v: f64, extra_float_digits: i8) -> String {
    float_text(v, DOUBLE_DIGITS, extra_float_digits)
}

/// A `real` as PostgreSQL's `float4out` writes it.
pub fn real_text(v: f32, extra_float_digits: i8) -> String {
    float_text(v, REAL_DIGITS, extra_float_digits)
}

/// What [`float_text`] asks of `f32` and `f64`.
trait Float: Copy + std::fmt::LowerExp {
    fn special(self) -> Option<&'static str>;
}

impl Float for f32 {
    fn special(self) -> Option<&'static str> {
        special(self.is_nan(), self.is_infinite(), self.is_sign_negative())
    }
}

impl Float for f64 {
    fn special(self) -> Option<&'static str> {
        special(self.is_nan(), self.is_infinite(), self.is_sign_negative())
    }
}

/// The shortest digits that read back as `v` when `extra_float_digits` is
/// positive, else printf's `%.{digits + extra}g`.
fn float_text<F: Float>(v: F, digits: i32, extra_float_digits: i8) -> String {
    if let Some(special) = v.special() {
        return special.to_string();
    }
    if extra_float_digits > 0 {
        layout(&format!("{v:e}"), digits)
    } else {
        let digits = (digits + i32::from(extra_float_digits)).max(1);
        let places = (digits - 1) as usize;
        printf_g(&format!("{v:.places$e}"), digits)
    }
}

fn special(nan: bool, infinite: bool, negative: bool) -> Option<&'static str> {
    match (nan, infinite, negative) {
        (true, _, _) => Some("NaN"),
        (_, true, false) => Some("Infinity"),
        (_, true, true) => Some("-Infinity"),
        _ => None,
    }
}

/// Rust's `{:e}` text (`-1.25e-5`): sign, digits without the point, and
/// the decimal exponent of the first digit.
fn parts(scientific: &str) -> (bool, String, i32) {
    let (negative, body) = match scientific.strip_prefix('-') {
        Some(body) => (true, body),
        None => (false, scientific),
    };
    let (mantissa, exponent) = body.split_once('e').unwrap_or((body, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    (negative, digits, exponent.parse().unwrap_or(0))
}

/// Shortest digits laid out as PostgreSQL's ryu output does: fixed for
/// exponents from -4 to `fixed_below - 1`, else `d.ddde+XX`.
fn layout(scientific: &str, fixed_below: i32) -> String {
    let (negative, digits, exponent) = parts(scientific);
    let mut out = String::with_capacity(digits.len() + 8);
    if negative {
        out.push('-');
    }
    if (-4..fixed_below).contains(&exponent) {
        fixed(&mut out, &digits, exponent);
    } else {
        exponential(&mut out, &digits, exponent);
    }
    out
}

/// printf's `%.{precision}g` from `%.{precision-1}e` text: trailing zeros
/// dropped, fixed notation for exponents from -4 to `precision - 1`.
fn printf_g(scientific: &str, precision: i32) -> String {
    let (negative, digits, exponent) = parts(scientific);
    let digits = match digits.trim_end_matches('0') {
        "" => "0",
        trimmed => trimmed,
    };
    let mut out = String::with_capacity(digits.len() + 8);
    if negative {
        out.push('-');
    }
    if (-4..precision).contains(&exponent) {
        fixed(&mut out, digits, exponent);
    } else {
        exponential(&mut out, digits, exponent);
    }
    out
}

fn fixed(out: &mut String, digits: &str, exponent: i32) {
    if exponent < 0 {
        out.push_str("0.");
        (0..(-exponent - 1)).for_each(|_| out.push('0'));
        out.push_str(digits);
        return;
    }
    let whole = (exponent + 1) as usize;
    if digits.len() <= whole {
        out.push_str(digits);
        (digits.len()..whole).for_each(|_| out.push('0'));
    } else {
        out.push_str(&digits[..whole]);
        out.push('.');
        out.push_str(&digits[whole..]);
    }
}

fn exponential(out: &mut String, digits: &str, exponent: i32) {
    out.push_str(&digits[..1]);
    if digits.len() > 1 {
        out.push('.');
        out.push_str(&digits[1..]);
    }
    out.push('e');
    out.push(if exponent < 0 { '-' } else { '+' });
    out.push_str(&format!("{:02}", exponent.unsigned_abs()));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each as PostgreSQL 15 prints it (`SELECT x::float8`, default
    /// `extra_float_digits` of 1, and with 0).
    #[test]
    fn doubles_read_as_postgresql_writes_them() {
        let cases: &[(f64, &str)] = &[
            (2.0, "2"),
            (-2.5, "-2.5"),
            (0.0, "0"),
            (-0.0, "-0"),
            (0.1, "0.1"),
            (1.0 / 3.0, "0.3333333333333333"),
            (1e20, "1e+20"),
            (1e15, "1e+15"),
            (123456789012345.0, "123456789012345"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e100, "1e+100"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (f64::NAN, "NaN"),
        ];
        for (v, text) in cases {
            assert_eq!(double_text(*v, 1), *text, "{v}");
        }
        assert_eq!(double_text(1.0 / 3.0, 0), "0.333333333333333");
        assert_eq!(double_text(2.0, 0), "2");
        assert_eq!(double_text(1e20, 0), "1e+20");
        assert_eq!(double_text(123456.0, -10), "1.2346e+05");
    }

    #[test]
    fn reals_read_as_postgresql_writes_them() {
        assert_eq!(real_text(2.0, 1), "2");
        assert_eq!(real_text(1.1, 1), "1.1");
        assert_eq!(real_text(100000.0, 1), "100000");
        assert_eq!(real_text(1000000.0, 1), "1e+06");
        assert_eq!(real_text(1.0 / 3.0, 0), "0.333333");
    }

    #[test]
    fn timestamps_read_as_postgresql_writes_them() {
        assert_eq!(
            trim_fraction("2024-01-01 12:00:00.000000"),
            "2024-01-01 12:00:00"
        );
        assert_eq!(
            trim_fraction("2024-01-01 12:00:00.500000"),
            "2024-01-01 12:00:00.5"
        );
        assert_eq!(trim_fraction("2024-01-01 12:00:00"), "2024-01-01 12:00:00");
        let zone = |z: &str| z.parse::<Tz>().expect("a zone");
        let ny = zone("America/New_York");
        assert_eq!(
            zoned("2024-01-01 10:00:00.000000+00", &ny).as_deref(),
            Some("2024-01-01 05:00:00-05")
        );
        assert_eq!(
            zoned("2024-07-01 10:00:00.250000+02:00", &ny).as_deref(),
            Some("2024-07-01 04:00:00.25-04")
        );
        assert_eq!(
            zoned("2024-01-01 10:00:00+00", &zone("Asia/Kolkata")).as_deref(),
            Some("2024-01-01 15:30:00+05:30")
        );
    }

    #[test]
    fn rows_keep_their_other_fields() {
        let mut data = BytesMut::new();
        for field in [Some(&b"2.0"[..]), None, Some(&b"x"[..])] {
            match field {
                Some(v) => {
                    data.put_i32(v.len() as i32);
                    data.put_slice(v);
                }
                None => data.put_i32(-1),
            }
        }
        let columns = TextColumns {
            columns: vec![(0, Kind::Double(1)), (1, Kind::Double(1))],
        };
        let row = columns.rewrite(DataRow::new(data, 3));
        let fields = split(&row.data).expect("well formed");
        assert_eq!(fields, vec![Some(&b"2"[..]), None, Some(&b"x"[..])]);
    }
}
