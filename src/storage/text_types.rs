//! The PostgreSQL types Brook stores as Arrow text: `varchar`, `uuid`,
//! `json` and `jsonb`.
//!
//! Arrow has no uuid or json type that Delta Lake stores and DataFusion
//! computes with, so these columns are `Utf8`; what makes them their type is
//! the grammar their values keep and the form PostgreSQL prints them in.
//! Every value is checked and put in that form when it is written (and by
//! the casts `x::uuid`, `x::jsonb`), so that a uuid column never holds
//! `nope` and a jsonb column prints `{"a": 1, "b": 2}` however it was sent:
//! PostgreSQL refuses the one (22P02) and normalises the other on input.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::value::RawValue;

use crate::error::{BrookError, Result};

/// A text-stored type whose name the client must be told, because Arrow's
/// `Utf8` would be described as `text`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextType {
    Varchar,
    Uuid,
    Json,
    Jsonb,
}

impl TextType {
    /// Every type Brook keeps as text.
    pub const ALL: [TextType; 4] = [Self::Varchar, Self::Uuid, Self::Json, Self::Jsonb];

    /// The type of a column declared as `pg_name` ([`super::types::ColumnType::pg_name`]).
    pub fn of_pg_name(pg_name: &str) -> Option<Self> {
        let base = pg_name.split('(').next().unwrap_or("").trim();
        match base {
            "character varying" | "varchar" => Some(Self::Varchar),
            "uuid" => Some(Self::Uuid),
            "json" => Some(Self::Json),
            "jsonb" => Some(Self::Jsonb),
            _ => None,
        }
    }

    /// The type's name as a column declares it (`CREATE TABLE … AS` keeps
    /// it; a `varchar`'s length is not known from a query's lineage).
    pub fn pg_name(self) -> &'static str {
        match self {
            Self::Varchar => "character varying",
            Self::Uuid => "uuid",
            Self::Json => "json",
            Self::Jsonb => "jsonb",
        }
    }

    /// `text` in this type's canonical form, or PostgreSQL's input error.
    /// Varchar's length is checked elsewhere (it depends on the column).
    pub fn canonical(self, text: &str) -> Result<Cow<'_, str>> {
        match self {
            Self::Varchar => Ok(Cow::Borrowed(text)),
            Self::Uuid => uuid(text).map(Cow::Owned),
            Self::Json => {
                serde_json::from_str::<serde::de::IgnoredAny>(text)
                    .map_err(|_| invalid("json", text))?;
                Ok(Cow::Borrowed(text))
            }
            Self::Jsonb => jsonb(text).map(Cow::Owned),
        }
    }

    /// Whether [`Self::canonical`] can change or refuse a value.
    pub fn checks_values(self) -> bool {
        self != Self::Varchar
    }
}

fn invalid(type_name: &str, text: &str) -> BrookError {
    // PostgreSQL names the value for a uuid, and for json says what in the
    // document it could not read (here: only that it could not).
    if type_name == "json" {
        return BrookError::InvalidText("invalid input syntax for type json".to_string());
    }
    BrookError::InvalidText(format!(
        "invalid input syntax for type {type_name}: \"{text}\""
    ))
}

/// PostgreSQL's `uuid_in` then `uuid_out`: 32 hex digits, optionally in
/// braces, with a hyphen allowed after any group of four digits; written
/// back in lower case as 8-4-4-4-12.
fn uuid(text: &str) -> Result<String> {
    let inner = match text.strip_prefix('{') {
        Some(rest) => rest
            .strip_suffix('}')
            .ok_or_else(|| invalid("uuid", text))?,
        None => text,
    };
    let mut digits = Vec::with_capacity(32);
    let mut after_hyphen = false;
    for c in inner.chars() {
        if c == '-' {
            if after_hyphen || digits.is_empty() || digits.len() % 4 != 0 || digits.len() == 32 {
                return Err(invalid("uuid", text));
            }
            after_hyphen = true;
            continue;
        }
        let digit = c.to_digit(16).ok_or_else(|| invalid("uuid", text))?;
        if digits.len() == 32 {
            return Err(invalid("uuid", text));
        }
        digits.push(digit);
        after_hyphen = false;
    }
    if digits.len() != 32 || after_hyphen {
        return Err(invalid("uuid", text));
    }
    Ok(hyphenated(digits))
}

/// 32 hex digits (each below 16) as `uuid_out` writes them: lower case,
/// 8-4-4-4-12.
fn hyphenated(digits: impl IntoIterator<Item = u32>) -> String {
    let mut out = String::with_capacity(36);
    for (i, d) in digits.into_iter().enumerate() {
        if matches!(i, 8 | 12 | 16 | 20) {
            out.push('-');
        }
        out.push(char::from_digit(d, 16).unwrap_or('0'));
    }
    out
}

/// The canonical text of a uuid sent as its 16 bytes (the binary wire
/// format).
pub fn uuid_text(bytes: &[u8; 16]) -> String {
    hyphenated(
        bytes
            .iter()
            .flat_map(|b| [u32::from(b >> 4), u32::from(b & 0x0f)]),
    )
}

/// The 16 bytes of a canonical uuid (the binary wire format).
pub fn uuid_bytes(canonical: &str) -> Option<[u8; 16]> {
    let hex: Vec<u8> = canonical.bytes().filter(|b| *b != b'-').collect();
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks(2).enumerate() {
        let pair = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

/// PostgreSQL's `jsonb_in` then `jsonb_out`: object keys unique (the last
/// wins) and ordered shorter first, then bytewise; numbers as `numeric`
/// prints them (`1e2` is `100`, `1.50` stays `1.50`); `", "` and `": "`
/// between items. serde_json reads the document; numbers are kept as the
/// text they were sent in ([`RawValue`]) because an `f64` would lose
/// `1.50`'s scale and a long number's digits.
fn jsonb(text: &str) -> Result<String> {
    let raw: &RawValue = serde_json::from_str(text).map_err(|_| invalid("json", text))?;
    let mut out = String::with_capacity(text.len());
    write_jsonb(raw, &mut out).map_err(|e| match e {
        BrookError::InvalidText(_) => invalid("json", text),
        other => other,
    })?;
    Ok(out)
}

fn write_jsonb(raw: &RawValue, out: &mut String) -> Result<()> {
    let text = raw.get().trim();
    let bad = || BrookError::InvalidText(String::new());
    match text.as_bytes().first() {
        Some(b'{') => {
            let members: BTreeMap<String, &RawValue> =
                serde_json::from_str(text).map_err(|_| bad())?;
            let mut keys: Vec<&String> = members.keys().collect();
            keys.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&serde_json::to_string(key).map_err(|_| bad())?);
                out.push_str(": ");
                write_jsonb(members[*key], out)?;
            }
            out.push('}');
        }
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_str(text).map_err(|_| bad())?;
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_jsonb(item, out)?;
            }
            out.push(']');
        }
        Some(b'"') => {
            let s: String = serde_json::from_str(text).map_err(|_| bad())?;
            if s.contains('\0') {
                return Err(BrookError::InvalidText(
                    "unsupported Unicode escape sequence: \\u0000 cannot be converted to text"
                        .to_string(),
                ));
            }
            out.push_str(&serde_json::to_string(&s).map_err(|_| bad())?);
        }
        Some(b't' | b'f' | b'n') => out.push_str(text),
        Some(_) => out.push_str(&numeric_text(text).ok_or_else(bad)?),
        None => return Err(bad()),
    }
    Ok(())
}

/// A JSON number as PostgreSQL's `numeric` prints it: every digit kept,
/// the exponent applied, as many fraction digits as the text had less the
/// exponent (`1.50e1` is `15.0`), no sign on zero.
fn numeric_text(number: &str) -> Option<String> {
    let (negative, unsigned) = match number.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, number),
    };
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], unsigned[at + 1..].parse::<i64>().ok()?),
        None => (unsigned, 0),
    };
    // numeric's own limit on exponents (beyond it PostgreSQL overflows).
    if exponent.abs() > 1000 {
        return None;
    }
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let scale = (fraction.len() as i64 - exponent).max(0) as usize;
    let digits: String = format!("{whole}{fraction}");
    // The position of the decimal point within `digits`.
    let point = whole.len() as i64 + exponent;
    let integer: String = if point <= 0 {
        String::new()
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        digits[..point as usize].to_string()
    };
    let fraction_digits: String = if point >= digits.len() as i64 {
        String::new()
    } else if point < 0 {
        format!("{}{digits}", "0".repeat((-point) as usize))
    } else {
        digits[point as usize..].to_string()
    };
    let integer = integer.trim_start_matches('0');
    let integer = if integer.is_empty() { "0" } else { integer };
    let mut fraction_digits: String = fraction_digits.chars().take(scale).collect();
    while fraction_digits.len() < scale {
        fraction_digits.push('0');
    }
    let zero = integer == "0" && fraction_digits.bytes().all(|b| b == b'0');
    let mut out = String::new();
    if negative && !zero {
        out.push('-');
    }
    out.push_str(integer);
    if scale > 0 {
        out.push('.');
        out.push_str(&fraction_digits);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn a_binary_uuid_reads_as_its_text() {
        let bytes = [
            0x12, 0x34, 0x56, 0x78, 0x12, 0x34, 0x56, 0x78, 0x12, 0x34, 0x56, 0x78, 0x12, 0x34,
            0x56, 0x78,
        ];
        assert_eq!(uuid_text(&bytes), "12345678-1234-5678-1234-567812345678");
        assert_eq!(uuid_bytes(&uuid_text(&bytes)), Some(bytes));
    }

    #[test]
    fn uuids_are_read_as_postgresql_reads_them() {
        let want = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
        for spelled in [
            "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
            "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
            "a0eebc999c0b4ef8bb6d6bb9bd380a11",
            "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11",
            "{a0eebc99-9c0b4ef8-bb6d6bb9-bd380a11}",
        ] {
            assert_eq!(
                TextType::Uuid.canonical(spelled).unwrap(),
                want,
                "{spelled}"
            );
        }
        for bad in [
            "nope",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a111",
            "-a0eebc999c0b4ef8bb6d6bb9bd380a11",
            "a0eebc999c0b4ef8bb6d6bb9bd380a11-",
            "a0e-ebc999c0b4ef8bb6d6bb9bd380a11",
            "a0ee--bc999c0b4ef8bb6d6bb9bd380a11",
            "{a0eebc999c0b4ef8bb6d6bb9bd380a11",
        ] {
            let e = TextType::Uuid.canonical(bad).unwrap_err();
            assert_eq!(e.sqlstate(), "22P02", "{bad}");
        }
        assert_eq!(uuid_bytes(want).unwrap()[..2], [0xa0, 0xee]);
    }

    #[test]
    fn jsonb_is_printed_as_postgresql_prints_it() {
        // Each `want` was printed by PostgreSQL 15 for the `sent` text.
        for (sent, want) in [
            (
                r#"{"b":1,"aa":[1.50,1e2]}"#,
                r#"{"b": 1, "aa": [1.50, 100]}"#,
            ),
            (r#"{"b":1,"a":2,"b":3}"#, r#"{"a": 2, "b": 3}"#),
            ("[1, 2.0 ,3e0,-0, 0.1e-2]", "[1, 2.0, 3, 0, 0.001]"),
            ("-0.0", "0.0"),
            ("1.50e1", "15.0"),
            (r#" "\u00fc\n" "#, r#""ü\n""#),
            ("{}", "{}"),
            ("[]", "[]"),
            ("[true,false,null]", "[true, false, null]"),
            ("-12.5E-1", "-1.25"),
        ] {
            assert_eq!(TextType::Jsonb.canonical(sent).unwrap(), want, "{sent}");
        }
        for bad in ["{nope", "", "[1,]", "01"] {
            assert_eq!(
                TextType::Jsonb.canonical(bad).unwrap_err().sqlstate(),
                "22P02",
                "{bad}"
            );
        }
    }

    #[test]
    fn json_keeps_the_text_it_was_sent() {
        assert_eq!(
            TextType::Json.canonical(r#" {"b":1, "b":2} "#).unwrap(),
            r#" {"b":1, "b":2} "#
        );
        assert_eq!(
            TextType::Json.canonical("{nope").unwrap_err().sqlstate(),
            "22P02"
        );
    }
}
