//! What a `CREATE PIPELINE` statement declares, in the form Brook keeps on disk.
//!
//! The definition is data only: the parser (`sql::pipeline`) builds it, the
//! registry persists it, and the runner reads it. SET and WHERE expressions are
//! kept as SQL text and planned by DataFusion against the decoded columns when
//! the pipeline starts, so a definition never holds engine objects.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The whole declaration of one pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineDef {
    /// The pipeline's name, folded as SQL identifiers are.
    pub name: String,
    /// `host:port[,host:port]`, or `None` to use the server's `--kafka`.
    pub brokers: Option<String>,
    pub topic: String,
    /// librdkafka settings from `CONFIG` (shown back to users).
    pub config: BTreeMap<String, String>,
    /// librdkafka settings from `CREDENTIALS` (never shown back, never logged).
    pub credentials: BTreeMap<String, String>,
    pub batch_interval_ms: u64,
    pub max_offsets_per_batch_partition: Option<u64>,
    pub on_error: ErrorMode,
    pub duplicates: DuplicateMode,
    /// The target table, `schema.name`.
    pub table_schema: String,
    pub table_name: String,
    pub format: Format,
    /// `SET col = expr`, in the order written.
    pub set: Vec<Assignment>,
    /// `WHERE expr` as SQL text.
    pub filter: Option<String>,
    /// The role that owns it (its creator): who may start, stop, alter and
    /// drop it, and whose rights it writes its table with.
    #[serde(default = "bootstrap_owner")]
    pub owner: i32,
}

fn bootstrap_owner() -> i32 {
    crate::catalog::privileges::acl::BOOTSTRAP_OWNER
}

/// The default time a batch collects messages before it is committed.
pub const DEFAULT_BATCH_INTERVAL_MS: u64 = 1000;

/// What a message that cannot be loaded does to the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorMode {
    /// The pipeline stops in `Error` and the batch is not committed.
    Stop,
    /// Unparseable messages are kept in `pipelines_errors`; conversion errors stop.
    SkipParserErrors,
    /// Every message that cannot be loaded is kept in `pipelines_errors`.
    SkipAllErrors,
}

/// `REPLACE` / `IGNORE` before `INTO TABLE`: what a row whose primary key is
/// already present does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DuplicateMode {
    /// Plain append (no key check).
    Append,
    /// The new row replaces the stored one.
    Replace,
    /// The stored row stays; the new one counts as filtered.
    Ignore,
}

/// How one message becomes one row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Format {
    Json {
        /// `(col <- path::to::field [DEFAULT v], ...)`; `None` maps top-level
        /// fields to the columns of the same name.
        fields: Option<Vec<JsonField>>,
    },
    Csv {
        delimiter: u8,
        quote: u8,
        /// Lines skipped at the start of each message before its record.
        ignore_lines: u64,
        /// `(col, @var, ...)` by position; `None` means the table's columns in order.
        fields: Option<Vec<String>>,
    },
}

/// One `target <- path` mapping of a JSON pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonField {
    /// A column of the table, or `@name` for a variable used by SET/WHERE.
    pub target: String,
    /// Object keys (or array indexes) from the root; empty means the whole message (`%`).
    pub path: Vec<String>,
    /// SQL literal used when the path is missing from a message.
    pub default: Option<String>,
}

/// `SET column = expression`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    pub column: String,
    pub expr: String,
}

/// Where a pipeline starts reading partitions it has no committed offset for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StartOffsets {
    Earliest,
    Latest,
    /// Partition → first offset to read; unlisted partitions start at the earliest.
    Explicit(BTreeMap<i32, i64>),
}

impl PipelineDef {
    /// The qualified target table as users write it.
    pub fn table(&self) -> String {
        if self.table_schema == crate::catalog::DEFAULT_SCHEMA {
            self.table_name.clone()
        } else {
            format!("{}.{}", self.table_schema, self.table_name)
        }
    }

    /// `LOAD DATA KAFKA '…'` as written, for `information_schema.pipelines.source`.
    pub fn source(&self) -> String {
        match &self.brokers {
            Some(b) => format!("{b}/{}", self.topic),
            None => self.topic.clone(),
        }
    }

    /// The CONFIG JSON users may see: never the credentials, and the
    /// values of secret settings put in CONFIG hidden.
    pub fn config_json(&self) -> String {
        use crate::observability::redact::{HIDDEN, is_secret_setting};
        let shown: BTreeMap<&str, &str> = self
            .config
            .iter()
            .map(|(k, v)| {
                let v = if is_secret_setting(k) {
                    HIDDEN
                } else {
                    v.as_str()
                };
                (k.as_str(), v)
            })
            .collect();
        serde_json::to_string(&shown).unwrap_or_else(|_| "{}".to_string())
    }

    /// A variable (`@name`) rather than a column?
    pub fn is_variable(target: &str) -> bool {
        target.starts_with('@')
    }
}

impl fmt::Display for ErrorMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorMode::Stop => "",
            ErrorMode::SkipParserErrors => "SKIP PARSER ERRORS",
            ErrorMode::SkipAllErrors => "SKIP ALL ERRORS",
        })
    }
}
