//! `COPY t [(cols)] FROM STDIN [(FORMAT csv|text, HEADER, DELIMITER, NULL, QUOTE, ESCAPE)]`.
//!
//! The client's bytes are parsed into text columns, which DataFusion then casts
//! to the table's types with the same rules as `INSERT … SELECT CAST(…)`, and
//! omitted columns take their DEFAULT. All rows are one commit: a bad line
//! anywhere loads nothing, and the error names the line.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::SchemaProvider;
use datafusion::catalog::TableProvider;
use datafusion::common::{Column, ScalarValue, TableReference};
use datafusion::datasource::provider_as_source;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, cast, lit};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    CopyLegacyCsvOption, CopyLegacyOption, CopyOption, CopySource, CopyTarget,
};

use super::outcome::Outcome;
use crate::catalog::QualifiedName;
use crate::catalog::names::{normalize, qualify};
use crate::engine::Engine;
use crate::error::{BrookError, Result};
use crate::storage::temp_tables::{TEMP_SCHEMA, TempTables};
use crate::storage::transaction::SessionTransaction;

/// Rows parsed per Arrow batch before casting.
const ROWS_PER_BATCH: usize = 8192;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyFormat {
    Text,
    Csv,
    /// PostgreSQL's binary COPY format (COPY TO only).
    Binary,
}

/// A prepared `COPY … FROM STDIN`, waiting for the client's data.
#[derive(Debug, Clone)]
pub struct CopySpec {
    pub table: QualifiedName,
    /// The session's temporary table of that name (schema `pg_temp`), which
    /// lives in the session's memory rather than in the durable catalog.
    pub temp: Option<Arc<dyn TableProvider>>,
    /// The target columns in the order the data has them.
    pub columns: Vec<String>,
    pub format: CopyFormat,
    pub delimiter: u8,
    pub header: bool,
    pub null: String,
    pub quote: u8,
    pub escape: Option<u8>,
}

fn single_byte(what: &str, c: char) -> Result<u8> {
    if c.is_ascii() {
        Ok(c as u8)
    } else {
        Err(BrookError::Unsupported(format!(
            "COPY {what} must be a single one-byte character"
        )))
    }
}

/// The options of a `COPY` in either direction, PostgreSQL's defaults filled in.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    pub format: CopyFormat,
    pub delimiter: u8,
    pub header: bool,
    pub null: String,
    pub quote: u8,
    pub escape: Option<u8>,
}

impl CopyOptions {
    /// From `WITH (FORMAT csv, …)` and the pre-9.0 `WITH CSV HEADER` forms.
    pub fn parse(options: &[CopyOption], legacy: &[CopyLegacyOption]) -> Result<Self> {
        let mut spec = CopyOptions {
            format: CopyFormat::Text,
            delimiter: b'\t',
            header: false,
            null: "\\N".into(),
            quote: b'"',
            escape: None,
        };
        let mut delimiter = None;
        let mut null = None;
        for option in options {
            match option {
                CopyOption::Format(f) => {
                    spec.format = match f.value.to_lowercase().as_str() {
                        "csv" => CopyFormat::Csv,
                        "text" => CopyFormat::Text,
                        "binary" => CopyFormat::Binary,
                        other => {
                            return Err(BrookError::Unsupported(format!(
                                "COPY format \"{other}\""
                            )));
                        }
                    }
                }
                CopyOption::Delimiter(c) => delimiter = Some(single_byte("delimiter", *c)?),
                CopyOption::Null(s) => null = Some(s.clone()),
                CopyOption::Header(h) => spec.header = *h,
                CopyOption::Quote(c) => spec.quote = single_byte("quote", *c)?,
                CopyOption::Escape(c) => spec.escape = Some(single_byte("escape", *c)?),
                CopyOption::Encoding(e)
                    if e.eq_ignore_ascii_case("utf8") || e.eq_ignore_ascii_case("utf-8") => {}
                CopyOption::Freeze(_) => {}
                other => return Err(BrookError::Unsupported(format!("COPY option {other}"))),
            }
        }
        for option in legacy {
            match option {
                CopyLegacyOption::Delimiter(c) => delimiter = Some(single_byte("delimiter", *c)?),
                CopyLegacyOption::Null(s) => null = Some(s.clone()),
                CopyLegacyOption::Binary => spec.format = CopyFormat::Binary,
                CopyLegacyOption::Csv(csv) => {
                    spec.format = CopyFormat::Csv;
                    for o in csv {
                        match o {
                            CopyLegacyCsvOption::Header => spec.header = true,
                            CopyLegacyCsvOption::Quote(c) => spec.quote = single_byte("quote", *c)?,
                            CopyLegacyCsvOption::Escape(c) => {
                                spec.escape = Some(single_byte("escape", *c)?)
                            }
                            other => {
                                return Err(BrookError::Unsupported(format!(
                                    "COPY option {other}"
                                )));
                            }
                        }
                    }
                }
                other => return Err(BrookError::Unsupported(format!("COPY option {other}"))),
            }
        }
        if spec.format == CopyFormat::Csv {
            spec.delimiter = b',';
            spec.null = String::new();
        }
        if let Some(d) = delimiter {
            spec.delimiter = d;
        }
        if let Some(n) = null {
            spec.null = n;
        }
        Ok(spec)
    }
}

/// A `COPY … FROM` as sqlparser parsed it. Every one is Brook's: from STDIN
/// Brook loads it, from a file or a program it refuses (they would reach
/// the server's files).
#[derive(Debug, Clone, PartialEq)]
pub struct CopyFrom {
    pub source: CopySource,
    pub target: CopyTarget,
    pub options: Vec<CopyOption>,
    pub legacy_options: Vec<CopyLegacyOption>,
}

impl CopyFrom {
    /// Check the table and options, and tell the protocol layer what data to
    /// ask the client for; [`load`] loads it when it has arrived.
    pub async fn execute(
        self,
        engine: &Engine,
        ctx: &SessionContext,
        session: Option<&SessionTransaction>,
    ) -> Result<Outcome> {
        let file = super::server_files::copy_file(
            engine,
            ctx,
            &self.target,
            super::server_files::Access::Read,
        )?;
        let CopySource::Table {
            table_name,
            columns,
        } = &self.source
        else {
            return Err(BrookError::Unsupported(
                "COPY (query) FROM: a query cannot be loaded into".into(),
            ));
        };
        let table = qualify(table_name)?;
        // The table as the session sees it: one its transaction created, or
        // one of its temporary tables (search_path wrote `pg_temp` out).
        let temp = temp_table(ctx, &table).await;
        let schema = match &temp {
            Some(temp) => temp.schema(),
            None => engine
                .catalog
                .table_for(session, &table)
                .ok_or_else(|| BrookError::UndefinedTable(table.to_string()))?
                .schema(),
        };
        let declared: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let columns: Vec<String> = if columns.is_empty() {
            declared.clone()
        } else {
            columns.iter().map(normalize).collect()
        };
        for c in &columns {
            if !declared.contains(c) {
                return Err(BrookError::UndefinedColumn {
                    table: table.name.clone(),
                    column: c.clone(),
                });
            }
        }
        let options = CopyOptions::parse(&self.options, &self.legacy_options)?;
        if options.format == CopyFormat::Binary {
            return Err(BrookError::Unsupported(
                "COPY FROM STDIN in binary format (use FORMAT text or csv)".into(),
            ));
        }
        if options.header && options.format == CopyFormat::Text {
            return Err(BrookError::Unsupported(
                "COPY HEADER in text format (use FORMAT csv)".into(),
            ));
        }
        let spec = CopySpec {
            table,
            temp,
            columns,
            format: options.format,
            delimiter: options.delimiter,
            header: options.header,
            null: options.null,
            quote: options.quote,
            escape: options.escape,
        };
        match file {
            None => Ok(Outcome::CopyIn(spec)),
            // A server file: loaded here, as the client's data would be.
            Some(file) => {
                let data = super::server_files::read_file(&file).await?;
                let rows = load(engine, session, &spec, &data).await?;
                Ok(Outcome::Done {
                    tag: "COPY",
                    rows: Some(usize::try_from(rows).unwrap_or(usize::MAX)),
                })
            }
        }
    }
}

/// Parse `data` as `spec` says and append every row in one commit (into
/// the session's transaction when it has one open). Returns the row count.
pub async fn load(
    engine: &Engine,
    session: Option<&SessionTransaction>,
    spec: &CopySpec,
    data: &[u8],
) -> Result<u64> {
    let durable = match &spec.temp {
        Some(_) => None,
        None => Some(
            engine
                .catalog
                .table_for(session, &spec.table)
                .ok_or_else(|| BrookError::UndefinedTable(spec.table.to_string()))?,
        ),
    };
    let table: Arc<dyn TableProvider> = match (&spec.temp, &durable) {
        (Some(temp), _) => temp.clone(),
        (None, Some(durable)) => Arc::new(durable.clone()),
        (None, None) => return Err(BrookError::UndefinedTable(spec.table.to_string())),
    };
    let rows = match spec.format {
        CopyFormat::Csv => parse_csv(spec, data)?,
        CopyFormat::Text => parse_text(spec, data)?,
        CopyFormat::Binary => {
            return Err(BrookError::Unsupported("COPY FROM in binary format".into()));
        }
    };
    let schema = table.schema();
    let text_schema = Arc::new(Schema::new(
        (0..spec.columns.len())
            .map(|i| Field::new(format!("c{i}"), DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    // One projection turns text columns into the table's row: a cast per given
    // column, the DEFAULT (or NULL) for the rest.
    let mut projection = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let expr = match spec.columns.iter().position(|c| c == field.name()) {
            Some(i) => cast(
                Expr::Column(Column::from_name(format!("c{i}"))),
                field.data_type().clone(),
            ),
            None => match table.get_column_default(field.name()) {
                Some(default) => cast(default.clone(), field.data_type().clone()),
                None => lit(ScalarValue::try_from(field.data_type())?),
            },
        };
        projection.push(expr.alias(field.name()));
    }
    let mut batches = Vec::new();
    let mut first_line = if spec.header { 2 } else { 1 };
    for chunk in rows.chunks(ROWS_PER_BATCH) {
        let columns: Vec<ArrayRef> = (0..spec.columns.len())
            .map(|i| {
                let mut b = StringBuilder::new();
                for row in chunk {
                    b.append_option(row[i].as_deref());
                }
                Arc::new(b.finish()) as ArrayRef
            })
            .collect();
        let batch = RecordBatch::try_new(text_schema.clone(), columns)
            .map_err(|e| BrookError::InvalidText(e.to_string()))?;
        let df = engine.ctx.read_batch(batch)?.select(projection.clone())?;
        let typed = df.collect().await.map_err(|e| {
            BrookError::InvalidText(format!(
                "COPY {}, lines {}–{}: {}",
                spec.table,
                first_line,
                first_line + chunk.len() - 1,
                e.strip_backtrace()
            ))
        })?;
        first_line += chunk.len();
        batches.extend(typed);
    }
    match durable {
        Some(durable) => durable.append_in(session, batches).await,
        None => append_temp(engine, spec, table, batches).await,
    }
}

/// The session's temporary table `name` names, if it names one.
async fn temp_table(ctx: &SessionContext, name: &QualifiedName) -> Option<Arc<dyn TableProvider>> {
    if name.schema != TEMP_SCHEMA {
        return None;
    }
    TempTables::of(ctx)?.table(&name.name).await.ok().flatten()
}

/// Append to a temporary table through DataFusion's INSERT, which checks
/// its NOT NULL columns; a ROLLBACK of the session's block undoes it as it
/// undoes an INSERT (storage::temp_tables).
async fn append_temp(
    engine: &Engine,
    spec: &CopySpec,
    table: Arc<dyn TableProvider>,
    batches: Vec<RecordBatch>,
) -> Result<u64> {
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    if rows == 0 {
        return Ok(0);
    }
    let input = engine.ctx.read_batches(batches)?.into_unoptimized_plan();
    let plan = LogicalPlanBuilder::insert_into(
        input,
        TableReference::partial(TEMP_SCHEMA, spec.table.name.as_str()),
        provider_as_source(table),
        InsertOp::Append,
    )?
    .build()?;
    engine
        .ctx
        .execute_logical_plan(plan)
        .await?
        .collect()
        .await?;
    Ok(rows as u64)
}

type Row = Vec<Option<String>>;

fn check_width(spec: &CopySpec, line: usize, fields: usize) -> Result<()> {
    if fields != spec.columns.len() {
        return Err(BrookError::InvalidText(format!(
            "COPY {}, line {line}: expected {} columns, found {fields}",
            spec.table,
            spec.columns.len()
        )));
    }
    Ok(())
}

fn parse_csv(spec: &CopySpec, data: &[u8]) -> Result<Vec<Row>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(spec.header)
        .delimiter(spec.delimiter)
        .quote(spec.quote)
        .escape(spec.escape.filter(|e| *e != spec.quote))
        .double_quote(spec.escape.is_none_or(|e| e == spec.quote))
        .flexible(true)
        .from_reader(data);
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + if spec.header { 2 } else { 1 };
        let record = record.map_err(|e| {
            BrookError::InvalidText(format!("COPY {}, line {line}: {e}", spec.table))
        })?;
        // psql ends inline data with a `\.` line; it is not a row.
        if record.len() == 1 && record.get(0) == Some("\\.") {
            break;
        }
        check_width(spec, line, record.len())?;
        rows.push(
            record
                .iter()
                .map(|f| (f != spec.null).then(|| f.to_string()))
                .collect(),
        );
    }
    Ok(rows)
}

fn parse_text(spec: &CopySpec, data: &[u8]) -> Result<Vec<Row>> {
    let text = std::str::from_utf8(data).map_err(|e| {
        BrookError::InvalidText(format!("COPY {}: data is not UTF-8: {e}", spec.table))
    })?;
    let mut rows = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line == "\\." {
            break;
        }
        if line.is_empty() && i + 1 == text.split('\n').count() {
            break;
        }
        let fields: Vec<&str> = line.split(spec.delimiter as char).collect();
        check_width(spec, i + 1, fields.len())?;
        rows.push(
            fields
                .into_iter()
                .map(|f| (f != spec.null).then(|| unescape_text(f)))
                .collect(),
        );
    }
    Ok(rows)
}

/// Undo the backslash escapes of Postgres' text COPY format.
fn unescape_text(field: &str) -> String {
    if !field.contains('\\') {
        return field.to_string();
    }
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('v') => out.push('\u{b}'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn spec(format: CopyFormat, header: bool) -> CopySpec {
        CopySpec {
            table: QualifiedName {
                schema: "public".into(),
                name: "t".into(),
            },
            temp: None,
            columns: vec!["a".into(), "b".into()],
            format,
            delimiter: if format == CopyFormat::Csv {
                b','
            } else {
                b'\t'
            },
            header,
            null: if format == CopyFormat::Csv {
                String::new()
            } else {
                "\\N".into()
            },
            quote: b'"',
            escape: None,
        }
    }

    #[test]
    fn csv_with_header_quotes_and_nulls() {
        let rows = parse_csv(&spec(CopyFormat::Csv, true), b"a,b\n1,\"x, y\"\n2,\n").unwrap();
        assert_eq!(
            rows,
            vec![
                vec![Some("1".into()), Some("x, y".into())],
                vec![Some("2".into()), None]
            ]
        );
    }

    #[test]
    fn text_format_escapes_and_null_marker() {
        let rows = parse_text(&spec(CopyFormat::Text, false), b"1\ta\\tb\n\\N\tc\n\\.\n").unwrap();
        assert_eq!(
            rows,
            vec![
                vec![Some("1".into()), Some("a\tb".into())],
                vec![None, Some("c".into())]
            ]
        );
    }

    #[test]
    fn wrong_width_names_the_line() {
        let err = parse_csv(&spec(CopyFormat::Csv, true), b"a,b\n1,2\n3\n").unwrap_err();
        assert!(err.to_string().contains("line 3"), "{err}");
        assert_eq!(err.sqlstate(), "22P02");
    }
}
