//! Kafka payloads → typed Arrow columns: where a message becomes a row.
//!
//! Each message is parsed (JSON object or CSV record) and its mapped values
//! appended as text to one builder per target; each column is then cast to its
//! SQL type in one vectorised Arrow cast. A message that does not parse, or a
//! value that does not convert, becomes a per-message error with its reason —
//! the batch itself goes on, and the runner decides (by the pipeline's error
//! mode) whether such errors are kept or stop the pipeline.

use std::borrow::Cow;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, StringBuilder};
use datafusion::arrow::compute::{CastOptions, cast_with_options, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::util::display::FormatOptions;

use super::definition::{Format, JsonField, PipelineDef};
use super::source::MessageBatch;
use json::PathTree;

mod json;

/// Which check a message failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The payload is not a JSON object / a CSV record of the right shape.
    Parse,
    /// A value does not convert to its column's type, or a constraint fails.
    Convert,
}

/// A message that did not become a row.
#[derive(Debug, Clone)]
pub struct MessageError {
    /// Index into the batch's entries.
    pub entry: usize,
    pub kind: ErrorKind,
    pub reason: String,
}

/// One decoded column: a table column or an `@variable` (text).
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub data_type: DataType,
    /// The SQL type name used in conversion errors (`integer`).
    pub sql_type: String,
}

#[derive(Debug, Clone)]
enum Layout {
    /// Per target: the path from the message root.
    Json(PathTree),
    Csv {
        delimiter: u8,
        quote: u8,
        ignore_lines: u64,
    },
}

/// Decodes messages of one pipeline into its targets.
#[derive(Debug, Clone)]
pub struct Decoder {
    layout: Layout,
    targets: Vec<Target>,
    schema: SchemaRef,
}

/// The rows of a batch, with the messages that did not make it.
#[derive(Debug)]
pub struct Decoded {
    /// Columns named after the targets, typed.
    pub batch: RecordBatch,
    /// For each row of `batch`, its message's index in the batch entries.
    pub rows: Vec<usize>,
    pub errors: Vec<MessageError>,
}

impl Decoder {
    /// `targets` are resolved by the caller (table columns → their types,
    /// variables → text), in the order of `def.format`'s field list.
    pub fn new(def: &PipelineDef, targets: Vec<Target>) -> Self {
        let layout = match &def.format {
            Format::Json { fields } => Layout::Json(PathTree::new(&match fields {
                Some(fields) => fields.iter().map(|f: &JsonField| f.path.clone()).collect(),
                None => targets
                    .iter()
                    .map(|t| vec![t.name.clone()])
                    .collect::<Vec<_>>(),
            })),
            Format::Csv {
                delimiter,
                quote,
                ignore_lines,
                ..
            } => Layout::Csv {
                delimiter: *delimiter,
                quote: *quote,
                ignore_lines: *ignore_lines,
            },
        };
        let schema = Arc::new(Schema::new(
            targets
                .iter()
                .map(|t| Field::new(&t.name, t.data_type.clone(), true))
                .collect::<Vec<_>>(),
        ));
        Self {
            layout,
            targets,
            schema,
        }
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    /// Decode every message of `batch`. `missing[i]` is the text used when
    /// target `i` is absent from a JSON message (its DEFAULT), `None` for NULL.
    pub fn decode(&self, batch: &MessageBatch, missing: &[Option<String>]) -> Decoded {
        let mut builders: Vec<StringBuilder> = self
            .targets
            .iter()
            .map(|_| StringBuilder::with_capacity(batch.len(), batch.bytes()))
            .collect();
        let mut rows = Vec::with_capacity(batch.len());
        let mut errors = Vec::new();
        // One scratch row for the whole batch: every value borrows from the batch's arena.
        let mut found = Vec::with_capacity(self.targets.len());
        for (index, entry) in batch.entries.iter().enumerate() {
            let payload = batch.payload(entry);
            let parsed = match &self.layout {
                Layout::Json(tree) => utf8(payload)
                    .and_then(|text| tree.extract(text, &mut found))
                    .map(|()| {
                        for ((builder, field), default) in
                            builders.iter_mut().zip(&found).zip(missing)
                        {
                            if field.is_missing() {
                                builder.append_option(default.as_deref());
                            } else {
                                builder.append_option(field.value.as_deref());
                            }
                        }
                    }),
                Layout::Csv {
                    delimiter,
                    quote,
                    ignore_lines,
                } => parse_csv(
                    payload,
                    *delimiter,
                    *quote,
                    *ignore_lines,
                    self.targets.len(),
                )
                .map(|row| {
                    for (builder, value) in builders.iter_mut().zip(row) {
                        builder.append_option(value);
                    }
                }),
            };
            match parsed {
                Ok(()) => rows.push(index),
                Err(reason) => errors.push(MessageError {
                    entry: index,
                    kind: ErrorKind::Parse,
                    reason,
                }),
            }
        }
        let text: Vec<ArrayRef> = builders
            .iter_mut()
            .map(|b| Arc::new(b.finish()) as ArrayRef)
            .collect();
        self.convert(text, rows, errors)
    }

    /// Cast each text column to its type; a value that does not convert
    /// removes its row and becomes a conversion error.
    fn convert(
        &self,
        text: Vec<ArrayRef>,
        rows: Vec<usize>,
        mut errors: Vec<MessageError>,
    ) -> Decoded {
        let safe = CastOptions {
            safe: true,
            format_options: FormatOptions::default(),
        };
        let mut failed = vec![false; rows.len()];
        let mut columns = Vec::with_capacity(text.len());
        for (target, text) in self.targets.iter().zip(&text) {
            let moments = timestamp_text(text, &target.data_type);
            let text = moments.as_ref().unwrap_or(text);
            let typed = match cast_with_options(text, &target.data_type, &safe) {
                Ok(typed) => typed,
                Err(e) => {
                    // Not castable at all (should not happen for the types Brook stores).
                    for (row, f) in failed.iter_mut().enumerate() {
                        if !*f && text.is_valid(row) {
                            *f = true;
                            errors.push(MessageError {
                                entry: rows[row],
                                kind: ErrorKind::Convert,
                                reason: format!("column \"{}\": {e}", target.name),
                            });
                        }
                    }
                    columns.push(datafusion::arrow::array::new_null_array(
                        &target.data_type,
                        rows.len(),
                    ));
                    continue;
                }
            };
            if typed.null_count() != text.null_count() {
                let strings = text
                    .as_any()
                    .downcast_ref::<datafusion::arrow::array::StringArray>();
                for (row, f) in failed.iter_mut().enumerate() {
                    if !*f && text.is_valid(row) && typed.is_null(row) {
                        *f = true;
                        let value = strings.map(|s| s.value(row)).unwrap_or_default();
                        errors.push(MessageError {
                            entry: rows[row],
                            kind: ErrorKind::Convert,
                            reason: format!(
                                "invalid input syntax for type {} in column \"{}\": \"{}\"",
                                target.sql_type,
                                target.name,
                                shorten(value)
                            ),
                        });
                    }
                }
            }
            columns.push(typed);
        }
        let batch = RecordBatch::try_new(self.schema.clone(), columns)
            .unwrap_or_else(|_| RecordBatch::new_empty(self.schema.clone()));
        if !failed.iter().any(|f| *f) {
            return Decoded {
                batch,
                rows,
                errors,
            };
        }
        let keep = BooleanArray::from(failed.iter().map(|f| !f).collect::<Vec<_>>());
        let batch = filter_record_batch(&batch, &keep)
            .unwrap_or_else(|_| RecordBatch::new_empty(self.schema.clone()));
        let rows = rows
            .into_iter()
            .zip(failed)
            .filter_map(|(r, f)| (!f).then_some(r))
            .collect();
        errors.sort_by_key(|e| e.entry);
        Decoded {
            batch,
            rows,
            errors,
        }
    }
}

/// A value short enough to quote in an error message.
pub fn shorten(value: &str) -> Cow<'_, str> {
    const MAX: usize = 80;
    if value.len() <= MAX {
        return Cow::Borrowed(value);
    }
    let mut end = MAX;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}…", &value[..end]))
}

fn utf8(payload: Option<&[u8]>) -> Result<&str, String> {
    let payload = payload.ok_or_else(|| "message has no payload".to_string())?;
    if payload.iter().all(u8::is_ascii_whitespace) {
        return Err("message is empty".to_string());
    }
    std::str::from_utf8(payload).map_err(|e| format!("message is not valid UTF-8 ({e})"))
}

fn parse_csv(
    payload: Option<&[u8]>,
    delimiter: u8,
    quote: u8,
    ignore_lines: u64,
    width: usize,
) -> Result<Vec<Option<Cow<'static, str>>>, String> {
    let mut text = utf8(payload)?;
    for _ in 0..ignore_lines {
        text = text.split_once('\n').map(|(_, rest)| rest).unwrap_or("");
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(delimiter)
        .quote(quote)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let record = match records.next() {
        Some(Ok(r)) => r,
        Some(Err(e)) => return Err(format!("invalid CSV: {e}")),
        None => return Err("message holds no CSV record".to_string()),
    };
    if let Some(extra) = records.next() {
        return Err(match extra {
            Ok(_) => "message holds more than one CSV record".to_string(),
            Err(e) => format!("invalid CSV: {e}"),
        });
    }
    if record.len() != width {
        return Err(format!(
            "expected {width} CSV fields, found {}",
            record.len()
        ));
    }
    Ok(record
        .iter()
        .map(|field| match field {
            // Postgres' CSV rule: an empty field is NULL; so is \N.
            "" | "\\N" => None,
            other => Some(Cow::Owned(other.to_string())),
        })
        .collect())
}

/// Text bound for a date or timestamp column, spelled as Arrow parses
/// what PostgreSQL reads (`2024-01-01 12:00` gets its seconds), as SQL
/// reads it ([`crate::semantics::normalize_timestamp_text`]); none for
/// other columns.
fn timestamp_text(text: &ArrayRef, data_type: &DataType) -> Option<ArrayRef> {
    if !matches!(
        data_type,
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
    ) {
        return None;
    }
    let strings = text
        .as_any()
        .downcast_ref::<datafusion::arrow::array::StringArray>()?;
    let normalized: datafusion::arrow::array::StringArray = strings
        .iter()
        .map(|t| t.map(crate::semantics::normalize_timestamp_text))
        .collect();
    Some(Arc::new(normalized))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::source::Entry;
    use datafusion::arrow::datatypes::TimeUnit;

    fn batch(payloads: &[&[u8]]) -> MessageBatch {
        let mut b = MessageBatch::default();
        for (i, p) in payloads.iter().enumerate() {
            let start = b.arena.len();
            b.arena.extend_from_slice(p);
            b.entries.push(Entry {
                partition: 0,
                offset: i as i64,
                payload: Some((start, b.arena.len())),
            });
        }
        b
    }

    fn target(name: &str, data_type: DataType, sql: &str) -> Target {
        Target {
            name: name.into(),
            data_type,
            sql_type: sql.into(),
        }
    }

    fn json_decoder(paths: Vec<Vec<String>>, targets: Vec<Target>) -> Decoder {
        Decoder {
            schema: Arc::new(Schema::new(
                targets
                    .iter()
                    .map(|t| Field::new(&t.name, t.data_type.clone(), true))
                    .collect::<Vec<_>>(),
            )),
            layout: Layout::Json(PathTree::new(&paths)),
            targets,
        }
    }

    #[test]
    fn json_paths_defaults_and_errors() {
        let d = json_decoder(
            vec![vec!["id".into()], vec!["a".into(), "city".into()]],
            vec![
                target("id", DataType::Int32, "integer"),
                target("city", DataType::Utf8, "text"),
            ],
        );
        let b = batch(&[
            br#"{"id": 1, "a": {"city": "Oslo"}}"#,
            br#"{"ID": "2"}"#,
            b"{not json",
            br#"{"id": "x"}"#,
            b"",
            br#"[1]"#,
            &[0xff, 0xfe],
        ]);
        let out = d.decode(&b, &[None, Some("nowhere".into())]);
        assert_eq!(out.rows, vec![0, 1]);
        assert_eq!(out.batch.num_rows(), 2);
        let kinds: Vec<(usize, ErrorKind)> = out.errors.iter().map(|e| (e.entry, e.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                (2, ErrorKind::Parse),
                (3, ErrorKind::Convert),
                (4, ErrorKind::Parse),
                (5, ErrorKind::Parse),
                (6, ErrorKind::Parse)
            ]
        );
        assert!(
            out.errors[1].reason.contains("type integer"),
            "{}",
            out.errors[1].reason
        );
        let city = out
            .batch
            .column(1)
            .as_any()
            .downcast_ref::<datafusion::arrow::array::StringArray>()
            .unwrap();
        assert_eq!(city.value(0), "Oslo");
        assert_eq!(city.value(1), "nowhere");
    }

    #[test]
    fn times_without_seconds_load_as_in_sql() {
        let d = json_decoder(
            vec![vec!["at".into()]],
            vec![target(
                "at",
                DataType::Timestamp(TimeUnit::Microsecond, None),
                "timestamp",
            )],
        );
        let out = d.decode(
            &batch(&[
                br#"{"at": "2024-01-01 12:00"}"#,
                br#"{"at": "2024-01-01 12:00:30"}"#,
                br#"{"at": "noon"}"#,
            ]),
            &[None],
        );
        assert_eq!(out.rows, vec![0, 1]);
        let at = out
            .batch
            .column(0)
            .as_any()
            .downcast_ref::<datafusion::arrow::array::TimestampMicrosecondArray>()
            .unwrap();
        assert_eq!(at.value(1) - at.value(0), 30_000_000);
        assert_eq!(out.errors.len(), 1);
    }

    #[test]
    fn csv_fields_nulls_and_shape() {
        let d = Decoder {
            schema: Arc::new(Schema::new(vec![
                Field::new("a", DataType::Int64, true),
                Field::new("b", DataType::Utf8, true),
            ])),
            layout: Layout::Csv {
                delimiter: b',',
                quote: b'"',
                ignore_lines: 0,
            },
            targets: vec![
                target("a", DataType::Int64, "bigint"),
                target("b", DataType::Utf8, "text"),
            ],
        };
        let out = d.decode(
            &batch(&[b"1,\"x, y\"\n", b",\\N", b"1,2,3", b"\"open,1"]),
            &[None, None],
        );
        assert_eq!(out.rows, vec![0, 1]);
        assert_eq!(out.errors.len(), 2);
        assert!(out.batch.column(0).is_null(1) && out.batch.column(1).is_null(1));
    }

    mod randomized {
        use super::*;
        use proptest::prelude::*;

        /// Messages that are JSON-like often enough to reach the converters:
        /// fragments of valid JSON glued with arbitrary bytes.
        fn message() -> impl Strategy<Value = Vec<u8>> {
            let fragment = prop_oneof![
                Just(b"{\"id\": ".to_vec()),
                Just(b"\"a\": {\"city\": ".to_vec()),
                Just(b"1e400".to_vec()),
                Just(b"-99999999999999999999999".to_vec()),
                Just(b"NaN".to_vec()),
                Just(b"\"x\"".to_vec()),
                Just(b"[[[[[[[[".to_vec()),
                Just(b"}".to_vec()),
                Just(b",".to_vec()),
                Just(b"\"\\ud800\"".to_vec()),
                Just(b"null".to_vec()),
                prop::collection::vec(any::<u8>(), 0..8),
            ];
            prop::collection::vec(fragment, 0..12).prop_map(|parts| parts.concat())
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(crate::fuzz_cases(2000)))]

            /// Any bytes: no panic, and every message is a row or an error.
            #[test]
            fn json_decoding_accounts_for_every_message(payloads in prop::collection::vec(message(), 1..20)) {
                let d = json_decoder(
                    vec![vec!["id".into()], vec!["a".into(), "city".into()]],
                    vec![
                        target("id", DataType::Int32, "integer"),
                        target("city", DataType::Utf8, "text"),
                    ],
                );
                let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
                let out = d.decode(&batch(&refs), &[None, None]);
                prop_assert_eq!(out.rows.len() + out.errors.len(), payloads.len());
                prop_assert_eq!(out.batch.num_rows(), out.rows.len());
            }

            #[test]
            fn csv_decoding_accounts_for_every_message(payloads in prop::collection::vec(
                prop::collection::vec(prop::sample::select(b"1a,\"\\N \n\r\xff".to_vec()), 0..24), 1..20)) {
                let d = Decoder {
                    schema: Arc::new(Schema::new(vec![
                        Field::new("a", DataType::Int64, true),
                        Field::new("b", DataType::Utf8, true),
                    ])),
                    layout: Layout::Csv { delimiter: b',', quote: b'"', ignore_lines: 0 },
                    targets: vec![
                        target("a", DataType::Int64, "bigint"),
                        target("b", DataType::Utf8, "text"),
                    ],
                };
                let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
                let out = d.decode(&batch(&refs), &[None, None]);
                prop_assert_eq!(out.rows.len() + out.errors.len(), payloads.len());
                prop_assert_eq!(out.batch.num_rows(), out.rows.len());
            }
        }
    }
}
