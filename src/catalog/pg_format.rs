//! `format(formatstr, args…)`, PostgreSQL's sprintf: `%s` (text), `%I`
//! (quoted identifier), `%L` (quoted literal, `NULL` for null), `%%`.
//! Metabase names tables with `format('%I.%I', schema, table)`; DataFusion
//! has no such function. Positional forms (`%1$s`) and widths are refused
//! with an error naming them.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result as DfResult, ScalarValue};
use datafusion::logical_expr::expr_fn::SimpleScalarUDF;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Signature, Volatility};

pub fn udf() -> ScalarUDF {
    ScalarUDF::new_from_impl(SimpleScalarUDF::new_with_signature(
        "format",
        Signature::variadic_any(Volatility::Immutable),
        DataType::Utf8,
        Arc::new(format),
    ))
}

fn format(args: &[ColumnarValue]) -> DfResult<ColumnarValue> {
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let Some((template, values)) = arrays.split_first() else {
        return Err(DataFusionError::Plan(
            "format needs a format string".to_string(),
        ));
    };
    let out = (0..template.len())
        .map(|row| {
            let template = ScalarValue::try_from_array(template, row)?;
            if template.is_null() {
                return Ok(None);
            }
            let values = values
                .iter()
                .map(|v| ScalarValue::try_from_array(v, row))
                .collect::<DfResult<Vec<_>>>()?;
            render(&text(&template).unwrap_or_default(), &values).map(Some)
        })
        .collect::<DfResult<StringArray>>()?;
    Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef))
}

fn text(value: &ScalarValue) -> Option<String> {
    if value.is_null() {
        return None;
    }
    Some(match value {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => s.clone(),
        other => other.to_string(),
    })
}

/// A string constant of `text`, as PostgreSQL's `quote_literal` writes it:
/// quotes doubled, and an `E''` string with doubled backslashes when it
/// has any.
pub fn quote_literal(text: &str) -> String {
    let quoted = text.replace('\'', "''");
    if text.contains('\\') {
        format!("E'{}'", quoted.replace('\\', "\\\\"))
    } else {
        format!("'{quoted}'")
    }
}

/// `quote_literal(text)` (NULL for NULL) and `quote_nullable(text)` (the
/// word NULL for NULL), which pg_dump and generated SQL call.
pub fn quoting_udfs() -> Vec<ScalarUDF> {
    let make = |name: &'static str, null: Option<&'static str>| {
        ScalarUDF::new_from_impl(SimpleScalarUDF::new_with_signature(
            name,
            Signature::any(1, Volatility::Immutable),
            DataType::Utf8,
            Arc::new(move |args: &[ColumnarValue]| -> DfResult<ColumnarValue> {
                let arrays = ColumnarValue::values_to_arrays(args)?;
                let text = datafusion::arrow::compute::cast(&arrays[0], &DataType::Utf8)?;
                let text = datafusion::common::cast::as_string_array(&text)?;
                let out: datafusion::arrow::array::StringArray = text
                    .iter()
                    .map(|v| match v {
                        Some(v) => Some(quote_literal(v)),
                        None => null.map(str::to_string),
                    })
                    .collect();
                Ok(ColumnarValue::Array(Arc::new(out)))
            }),
        ))
    };
    vec![
        make("quote_literal", None),
        make("quote_nullable", Some("NULL")),
    ]
}

/// `"name"` unless the name is a plain lower-case identifier.
pub fn quote_ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

fn render(template: &str, values: &[ScalarValue]) -> DfResult<String> {
    let mut out = String::with_capacity(template.len());
    let mut next = values.iter();
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let spec = chars.next().ok_or_else(|| {
            DataFusionError::Execution("unterminated format() type specifier".to_string())
        })?;
        if spec == '%' {
            out.push('%');
            continue;
        }
        let value = match spec {
            's' | 'I' | 'L' => next.next().ok_or_else(|| {
                DataFusionError::Execution("too few arguments for format()".to_string())
            })?,
            other => {
                return Err(DataFusionError::Execution(format!(
                    "unrecognized format() type specifier \"{other}\" (Brook supports %s, %I, %L and %%)"
                )));
            }
        };
        match (spec, text(value)) {
            ('s', Some(v)) => out.push_str(&v),
            ('s', None) => {}
            ('I', Some(v)) => out.push_str(&quote_ident(&v)),
            ('I', None) => {
                return Err(DataFusionError::Execution(
                    "null values cannot be formatted as an SQL identifier".to_string(),
                ));
            }
            ('L', Some(v)) => out.push_str(&quote_literal(&v)),
            _ => out.push_str("NULL"),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_quote_as_postgresql_does() {
        assert_eq!(quote_literal("O'Reilly"), "'O''Reilly'");
        assert_eq!(quote_literal(r"C:\x"), r"E'C:\\x'");
    }

    fn s(v: &str) -> ScalarValue {
        ScalarValue::Utf8(Some(v.to_string()))
    }

    #[test]
    fn renders_like_postgres() {
        assert_eq!(
            render("%I.%I", &[s("public"), s("My Table")]).expect("renders"),
            "public.\"My Table\""
        );
        assert_eq!(
            render("%s = %L, 100%%", &[s("x"), s("it's")]).expect("renders"),
            "x = 'it''s', 100%"
        );
        assert_eq!(
            render("%L", &[ScalarValue::Utf8(None)]).expect("renders"),
            "NULL"
        );
        assert!(render("%s %s", &[s("one")]).is_err());
        assert!(render("%5s", &[s("x")]).is_err());
    }
}
