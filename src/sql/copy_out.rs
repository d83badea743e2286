//! `COPY t [(cols)] | (query) TO STDOUT [(FORMAT text|csv|binary, HEADER,
//! DELIMITER, NULL, QUOTE, ESCAPE)]`: the rows of a query, streamed to the
//! client in COPY format (psql's `\copy … TO`, psycopg's `cursor.copy()`).
//! The encoding is the protocol layer's (`server::copy_out`). `COPY … TO
//! 'file'` writes a server file only for a superuser or a member of
//! `pg_write_server_files`, inside the directories open to SQL
//! ([`super::server_files`]).

use datafusion::sql::sqlparser::ast::{CopyLegacyOption, CopyOption, CopySource, CopyTarget};

use super::copy::{CopyFormat, CopyOptions};
use super::outcome::Outcome;
use crate::error::{BrookError, Result};

/// A `COPY … TO STDOUT`: the query whose rows go out, and how to write them.
#[derive(Debug, Clone)]
pub struct CopyOutSpec {
    pub query: String,
    pub options: CopyOptions,
    /// `TO 'file'`: the server file (resolved and allowed) to write
    /// instead of the client.
    pub file: Option<std::path::PathBuf>,
}

/// A `COPY … TO` as sqlparser parsed it. Every one is Brook's: to STDOUT
/// Brook streams it, to a file it writes it where allowed (DataFusion's
/// own COPY would write any server file).
#[derive(Debug, Clone, PartialEq)]
pub struct CopyTo {
    pub source: CopySource,
    pub target: CopyTarget,
    pub options: Vec<CopyOption>,
    pub legacy_options: Vec<CopyLegacyOption>,
}

impl CopyTo {
    /// Check the target and options, and tell the protocol layer which
    /// query's rows to stream.
    pub fn execute(
        self,
        engine: &crate::engine::Engine,
        ctx: &datafusion::prelude::SessionContext,
    ) -> Result<Outcome> {
        let file = super::server_files::copy_file(
            engine,
            ctx,
            &self.target,
            super::server_files::Access::Write,
        )?;
        let options = CopyOptions::parse(&self.options, &self.legacy_options)?;
        if file.is_some() && options.format == CopyFormat::Binary {
            return Err(BrookError::Unsupported(
                "COPY TO a file in binary format (use FORMAT text or csv)".into(),
            ));
        }
        if options.header && options.format != CopyFormat::Csv {
            return Err(BrookError::Unsupported(
                "COPY HEADER outside CSV format (use FORMAT csv)".into(),
            ));
        }
        let query = match self.source {
            CopySource::Query(query) => query.to_string(),
            CopySource::Table {
                table_name,
                columns,
            } => {
                let columns = if columns.is_empty() {
                    "*".to_string()
                } else {
                    columns
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                format!("SELECT {columns} FROM {table_name}")
            }
        };
        Ok(Outcome::CopyOut(CopyOutSpec {
            query,
            options,
            file,
        }))
    }
}
