//! What a Brook statement hands back to the protocol layer, and the channel
//! on which a long one reports progress while it runs.

use datafusion::prelude::DataFrame;

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

/// Where a long statement reports progress: the client's NOTICE messages.
#[derive(Clone, Default)]
pub struct Notices(Option<tokio::sync::mpsc::UnboundedSender<String>>);

impl Notices {
    /// A sender for the statement and the receiver the protocol layer drains.
    pub fn channel() -> (Self, tokio::sync::mpsc::UnboundedReceiver<String>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        (Self(Some(tx)), rx)
    }

    pub fn send(&self, text: impl Into<String>) {
        if let Some(tx) = &self.0 {
            let _ = tx.send(text.into());
        }
    }
}
