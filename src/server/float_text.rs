//! `real` and `double precision` values in text as PostgreSQL writes them.
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

use bytes::{BufMut, BytesMut};
use pgwire::api::Type;
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::messages::data::DataRow;

/// `double precision`'s digits (`DBL_DIG`) and `real`'s (`FLT_DIG`).
const DOUBLE_DIGITS: i32 = 15;
const REAL_DIGITS: i32 = 6;

/// The text-format float columns of a result, by position.
#[derive(Debug, Clone)]
pub struct FloatColumns {
    /// Position, whether `real`, the session's `extra_float_digits`.
    columns: Vec<(usize, bool, i8)>,
}

impl FloatColumns {
    /// The float columns of `schema` sent as text, if there are any.
    pub fn of(schema: &[FieldInfo]) -> Option<Self> {
        let columns: Vec<(usize, bool, i8)> = schema
            .iter()
            .enumerate()
            .filter(|(_, f)| f.format() == FieldFormat::Text)
            .filter_map(|(i, f)| {
                let real = match *f.datatype() {
                    Type::FLOAT4 => true,
                    Type::FLOAT8 => false,
                    _ => return None,
                };
                Some((i, real, f.format_options().extra_float_digits))
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
            let column = self.columns.iter().find(|(c, _, _)| *c == i);
            let text = column.and_then(|(_, real, extra)| {
                let text = std::str::from_utf8(value).ok()?;
                Some(if *real {
                    real_text(text.parse::<f32>().ok()?, *extra)
                } else {
                    double_text(text.parse::<f64>().ok()?, *extra)
                })
            });
            let bytes = text.as_ref().map_or(value, |t| t.as_bytes());
            data.put_i32(bytes.len() as i32);
            data.put_slice(bytes);
        }
        row.data = data;
        row
    }
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
    if let Some(special) = special(v.is_nan(), v.is_infinite(), v.is_sign_negative()) {
        return special.to_string();
    }
    if extra_float_digits > 0 {
        layout(&format!("{v:e}"), DOUBLE_DIGITS)
    } else {
        let digits = (DOUBLE_DIGITS + i32::from(extra_float_digits)).max(1);
        printf_g(&format!("{v:.*e}", (digits - 1) as usize), digits)
    }
}

/// A `real` as PostgreSQL's `float4out` writes it.
pub fn real_text(v: f32, extra_float_digits: i8) -> String {
    if let Some(special) = special(v.is_nan(), v.is_infinite(), v.is_sign_negative()) {
        return special.to_string();
    }
    if extra_float_digits > 0 {
        layout(&format!("{v:e}"), REAL_DIGITS)
    } else {
        let digits = (REAL_DIGITS + i32::from(extra_float_digits)).max(1);
        printf_g(&format!("{v:.*e}", (digits - 1) as usize), digits)
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
        let columns = FloatColumns {
            columns: vec![(0, false, 1), (1, false, 1)],
        };
        let row = columns.rewrite(DataRow::new(data, 3));
        let fields = split(&row.data).expect("well formed");
        assert_eq!(fields, vec![Some(&b"2"[..]), None, Some(&b"x"[..])]);
    }
}
