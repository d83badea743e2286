//! What a Brook statement hands back to the protocol layer, and the channel
//! on which a long one reports progress while it runs.

use datafusion::prelude::DataFrame;

use crate::error::SqlState;

use super::copy::CopySpec;
use super::copy_out::CopyOutSpec;

/// What a Brook statement asks the protocol layer to answer. One type for
/// every statement, so that the server encodes answers in one place.
#[derive(Debug)]
pub enum Outcome {
    /// Completed: the command tag (`CREATE TABLE`) and, for DML, the row count.
    Done {
        tag: &'static str,
        rows: Option<usize>,
    },
    /// Rows to send (SHOW PIPELINES, TEST PIPELINE, RETRY ERRORS' counts).
    Rows(DataFrame),
    /// `COPY … FROM STDIN`: the client is to send data, to be loaded by [`super::copy::load`].
    CopyIn(CopySpec),
    /// `COPY … TO STDOUT`: a query's rows to stream to the client.
    CopyOut(CopyOutSpec),
}

impl Outcome {
    /// Completed, with no row count.
    pub fn done(tag: &'static str) -> Self {
        Outcome::Done { tag, rows: None }
    }
}

/// One message a statement sends the client while it runs: a NOTICE (its
/// progress, what it skipped) or a WARNING (a GRANT that granted less than
/// asked), with its SQLSTATE.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub warning: bool,
    pub code: SqlState,
    pub text: String,
}

/// Where a long statement reports progress: the client's NOTICE messages.
#[derive(Clone, Default)]
pub struct Notices(Option<tokio::sync::mpsc::UnboundedSender<Notice>>);

impl Notices {
    /// A sender for the statement and the receiver the protocol layer drains.
    pub fn channel() -> (Self, tokio::sync::mpsc::UnboundedReceiver<Notice>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        (Self(Some(tx)), rx)
    }

    /// A NOTICE (SQLSTATE 00000).
    pub fn send(&self, text: impl Into<String>) {
        self.post(false, SqlState::SUCCESSFUL_COMPLETION, text.into());
    }

    /// A WARNING with SQLSTATE `code`.
    pub fn warn(&self, code: SqlState, text: impl Into<String>) {
        self.post(true, code, text.into());
    }

    fn post(&self, warning: bool, code: SqlState, text: String) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(Notice {
                warning,
                code,
                text,
            });
        }
    }
}
