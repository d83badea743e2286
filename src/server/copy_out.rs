//! Where `COPY … TO STDOUT` rows are encoded: each row becomes one CopyData
//! message in PostgreSQL's text, CSV or binary COPY format, written by the
//! same value encoders the query results use (arrow-pg), so a value looks the
//! same in `\copy` output as in a SELECT.

use std::sync::{Arc, Mutex};

use bytes::{BufMut, BytesMut};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion_postgres::arrow_pg::datatypes::arrow_schema_to_pg_fields;
use datafusion_postgres::arrow_pg::encoder::{Encoder, encode_value};
use futures::{StreamExt, stream};
use pgwire::api::portal::Format;
use pgwire::api::results::{
    CopyCsvOptions, CopyEncoder, CopyResponse, CopyTextOptions, FieldInfo, Response,
};
use pgwire::error::PgWireResult;
use pgwire::messages::copy::CopyData;

use super::errors::brook_to_pgwire;
use crate::catalog::pg_rewrites::client_name;
use crate::sql::CopyOutSpec;
use crate::sql::copy::{CopyFormat, CopyOptions};
use datafusion::prelude::SessionContext;

/// Run the spec's query in the session (its privileges and row-level
/// security hold, its temporary tables are seen) and answer with its rows
/// as a COPY OUT stream.
pub async fn respond(ctx: &SessionContext, spec: CopyOutSpec) -> PgWireResult<Response> {
    let plan = crate::query_text::plan_query(&ctx.state(), &spec.query, "COPY's query")
        .await
        .map_err(|e| brook_to_pgwire(e.into()))?;
    let frame = ctx
        .execute_logical_plan(plan)
        .await
        .map_err(|e| brook_to_pgwire(e.into()))?;
    let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
    let fields = Arc::new(arrow_schema_to_pg_fields(
        &schema,
        &Format::UnifiedText,
        None,
    )?);
    let batches = frame
        .execute_stream()
        .await
        .map_err(|e| brook_to_pgwire(e.into()))?;
    let options = spec.options;
    let columns = fields.len();
    let mut encoder = new_encoder(&options, fields.clone());
    // The CSV header goes out with the first row, or alone if there is none.
    let header = Arc::new(Mutex::new(
        (options.format == CopyFormat::Csv && options.header)
            .then(|| header_line(&options, &fields)),
    ));
    let leftover = header.clone();
    let written = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = written.clone();
    let rows = batches
        .flat_map(move |batch| {
            let encoded = match batch {
                Ok(batch) if batch.num_rows() > 0 => {
                    counted.fetch_add(batch.num_rows(), std::sync::atomic::Ordering::Relaxed);
                    let first = header.lock().ok().and_then(|mut h| h.take());
                    encode(&mut encoder, &batch, &schema, &fields, first)
                }
                Ok(_) => vec![],
                Err(e) => vec![Err(brook_to_pgwire(e.into()))],
            };
            stream::iter(encoded)
        })
        .chain(
            stream::once(async move { leftover.lock().ok().and_then(|mut h| h.take()) })
                .filter_map(|header| async move { header.map(|h| Ok(CopyData::new(h.into()))) }),
        );
    if let Some(file) = spec.file {
        write_file(&file, rows).await?;
        let count = written.load(std::sync::atomic::Ordering::Relaxed);
        return Ok(Response::Execution(
            pgwire::api::results::Tag::new("COPY").with_rows(count),
        ));
    }
    let format = if options.format == CopyFormat::Binary {
        1
    } else {
        0
    };
    Ok(Response::CopyOut(CopyResponse::new(format, columns, rows)))
}

/// `COPY … TO 'file'`: the encoded rows written to the server file `path`
/// (created or truncated) and synced.
async fn write_file(
    path: &std::path::Path,
    rows: impl futures::Stream<Item = PgWireResult<CopyData>>,
) -> PgWireResult<()> {
    use tokio::io::AsyncWriteExt;
    let failed = |e: std::io::Error| {
        brook_to_pgwire(crate::error::BrookError::Io(std::io::Error::new(
            e.kind(),
            format!("could not write to file \"{}\": {e}", path.display()),
        )))
    };
    let mut out = crate::sql::server_files::create_file(path)
        .await
        .map_err(failed)?;
    futures::pin_mut!(rows);
    while let Some(row) = rows.next().await {
        out.write_all(&row?.data).await.map_err(failed)?;
    }
    out.flush().await.map_err(failed)?;
    out.sync_all().await.map_err(failed)?;
    Ok(())
}

fn new_encoder(options: &CopyOptions, fields: Arc<Vec<FieldInfo>>) -> CopyEncoder {
    let text = |b: u8| char::from(b).to_string();
    match options.format {
        CopyFormat::Text => CopyEncoder::new_text(
            fields,
            CopyTextOptions {
                delimiter: text(options.delimiter).into(),
                null_string: options.null.as_str().into(),
            },
        ),
        CopyFormat::Csv => CopyEncoder::new_csv(
            fields,
            CopyCsvOptions {
                delimiter: text(options.delimiter).into(),
                quote: text(options.quote).into(),
                escape: text(options.escape.unwrap_or(options.quote)).into(),
                null_string: options.null.as_str().into(),
                force_quote: vec![],
            },
        ),
        CopyFormat::Binary => CopyEncoder::new_binary(fields),
    }
}

/// The CSV header: column names, quoted where they hold the delimiter, the
/// quote or a line break.
fn header_line(options: &CopyOptions, fields: &[FieldInfo]) -> Vec<u8> {
    let quote = char::from(options.quote);
    let delimiter = char::from(options.delimiter);
    let names: Vec<String> = fields
        .iter()
        .map(|f| {
            let name = client_name(f.name());
            if name.contains([delimiter, quote, '\n', '\r']) {
                let doubled = name.replace(quote, &format!("{quote}{quote}"));
                format!("{quote}{doubled}{quote}")
            } else {
                name.to_string()
            }
        })
        .collect();
    let mut line = names.join(&delimiter.to_string()).into_bytes();
    line.push(b'\n');
    line
}

/// One CopyData per row; the header, if any, leads the first one (pgwire
/// counts CopyData messages as the rows of the `COPY n` tag).
fn encode(
    encoder: &mut CopyEncoder,
    batch: &RecordBatch,
    schema: &SchemaRef,
    fields: &[FieldInfo],
    mut header: Option<Vec<u8>>,
) -> Vec<PgWireResult<CopyData>> {
    let mut out = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        for (column, (array, field)) in batch.columns().iter().zip(fields).enumerate() {
            let arrow_field = schema.field(column);
            if let Err(e) = encode_value(encoder, array, row, arrow_field, field) {
                out.push(Err(e));
                return out;
            }
        }
        let data = Encoder::take_row(encoder);
        out.push(Ok(match header.take() {
            Some(header) => {
                let mut joined = BytesMut::with_capacity(header.len() + data.data.len());
                joined.put_slice(&header);
                joined.put_slice(&data.data);
                CopyData::new(joined.freeze())
            }
            None => data,
        }));
    }
    out
}
