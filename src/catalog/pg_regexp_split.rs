//! `regexp_split_to_array(text, pattern [, flags])`, and through a rewrite
//! (`catalog::pg_rewrites`) `regexp_split_to_table`, which DataFusion
//! lacks: the pieces of the text between matches of the pattern (pgcli's
//! completion splits function bodies into words with it). The `regex`
//! crate (already DataFusion's) matches; PostgreSQL's advanced regular
//! expressions agree with it on the common syntax (classes, `\W`, `+`),
//! and a pattern it cannot read is 2201B, as PostgreSQL's error for one.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, ListBuilder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::cast::as_string_array;
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, ScalarUDF, Signature, SimpleScalarUDF, TypeSignature, Volatility,
};

/// The function, to register.
pub fn udf() -> ScalarUDF {
    let text = || DataType::Utf8;
    ScalarUDF::new_from_impl(SimpleScalarUDF::new_with_signature(
        "regexp_split_to_array",
        Signature::one_of(
            vec![
                TypeSignature::Exact(vec![text(), text()]),
                TypeSignature::Exact(vec![text(), text(), text()]),
            ],
            Volatility::Immutable,
        ),
        DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
        Arc::new(split),
    ))
}

fn split(args: &[ColumnarValue]) -> Result<ColumnarValue> {
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let texts = as_string_array(&arrays[0])?;
    let patterns = as_string_array(&arrays[1])?;
    let flags = arrays.get(2).map(|a| as_string_array(a)).transpose()?;
    let mut out = ListBuilder::new(StringBuilder::new());
    let mut compiled: Option<(String, String, regex::Regex)> = None;
    for i in 0..texts.len() {
        let flag = flags.map_or(Some(""), |f| f.is_valid(i).then(|| f.value(i)));
        let (Some(flag), true, true) = (flag, texts.is_valid(i), patterns.is_valid(i)) else {
            out.append_null();
            continue;
        };
        let pattern = patterns.value(i);
        let reusable = compiled
            .as_ref()
            .is_some_and(|(p, f, _)| p == pattern && f == flag);
        if !reusable {
            compiled = Some((
                pattern.to_string(),
                flag.to_string(),
                compile(pattern, flag)?,
            ));
        }
        let Some((_, _, regex)) = &compiled else {
            continue;
        };
        for piece in regex.split(texts.value(i)) {
            out.values().append_value(piece);
        }
        out.append(true);
    }
    Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
}

fn compile(pattern: &str, flags: &str) -> Result<regex::Regex> {
    let mut builder = regex::RegexBuilder::new(pattern);
    for flag in flags.chars() {
        match flag {
            'i' => builder.case_insensitive(true),
            'c' => builder.case_insensitive(false),
            'g' => {
                return Err(DataFusionError::Execution(
                    "regexp_split_to_array() does not support the \"global\" option".into(),
                ));
            }
            other => {
                return Err(DataFusionError::Execution(format!(
                    "invalid regular expression option: \"{other}\""
                )));
            }
        };
    }
    builder
        .build()
        .map_err(|e| DataFusionError::Execution(format!("invalid regular expression: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(text: &str, pattern: &str) -> Vec<String> {
        compile(pattern, "")
            .unwrap()
            .split(text)
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn pieces_are_postgresqls() {
        // SELECT regexp_split_to_array('a,b,', ',') is {a,b,""}.
        assert_eq!(pieces("a,b,", ","), ["a", "b", ""]);
        assert_eq!(
            pieces("select x.y from t", r"\W+"),
            ["select", "x", "y", "from", "t"]
        );
        assert_eq!(pieces("", ","), [""]);
    }
}
