//! Honest transaction blocks for the statements that do not take part in
//! transactions yet.
//!
//! Rows written by `INSERT`, `UPDATE`, `DELETE` and `COPY` belong to the
//! session's transaction (`storage::transaction`) and a `ROLLBACK` undoes
//! them. Schema changes (`CREATE`, `DROP`, `ALTER`), `TRUNCATE`, pipeline
//! and model statements still commit as they run. Drivers open blocks all
//! the time (psycopg wraps every unit of work in `BEGIN … COMMIT`, Alembic
//! runs its migrations in one), and for them `COMMIT` is the truth. But a
//! `ROLLBACK` that answers `ROLLBACK` while a created table stays would be a
//! lie. So this module follows each session's block from the responses that
//! go out, counts the statements in it that committed on their own, and
//! turns a rollback that would have to undo them into an error that says
//! what was kept. A block without such statements rolls back as usual.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use pgwire::api::ClientInfo;
use pgwire::api::results::{Response, Tag};
use pgwire::messages::response::CommandComplete;

/// One session's open block, as seen from its responses.
#[derive(Default)]
struct State {
    open: bool,
    failed: bool,
    /// Statements in the block that wrote and so cannot be undone.
    writes: usize,
    /// `writes` when each open savepoint was set, oldest first. Responses
    /// do not name the savepoint, so `ROLLBACK TO` is judged against the
    /// oldest one still open and `RELEASE` closes the newest: an error where
    /// a name would have allowed an answer, never an answer that lies.
    savepoints: Vec<usize>,
}

/// The per-session slot (in pgwire's session extensions).
#[derive(Default)]
pub struct TransactionBlock(Mutex<State>);

/// Set by a statement that took part in the transaction although its tag
/// says CREATE or DROP (a temporary table's): the next response observed
/// is not counted as committed on its own.
#[derive(Default)]
pub struct TookPart(AtomicBool);

/// The statement about to answer took part in the session's transaction.
pub fn took_part(client: &dyn ClientInfo) {
    client
        .session_extensions()
        .get_or_insert_with(TookPart::default)
        .0
        .store(true, Ordering::Relaxed);
}

/// The command a tag names: `INSERT 0 5` → `INSERT`, `CREATE TABLE` → `CREATE`.
fn command(tag: &Tag) -> String {
    CommandComplete::from(tag.clone())
        .tag
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase()
}

/// Whether a statement with this tag committed on its own, outside the
/// transaction (rows written by INSERT, UPDATE, DELETE and COPY did not).
fn writes(tag: &Tag) -> bool {
    matches!(
        command(tag).as_str(),
        "CREATE"
            | "DROP"
            | "TRUNCATE"
            | "ALTER"
            | "START"
            | "STOP"
            | "REFRESH"
            | "COMMENT"
            | "GRANT"
            | "REVOKE"
    )
}

/// The error a rollback over `writes` committed statements answers; `ended`
/// when it was a whole `ROLLBACK` (the session is idle after it), not a
/// `ROLLBACK TO SAVEPOINT` (the block is failed after it).
fn refusal(writes: usize, failed: bool, ended: bool) -> Response {
    let statements = if writes == 1 {
        "1 statement".to_string()
    } else {
        format!("{writes} statements")
    };
    let what = if failed {
        format!(
            "the transaction failed and its rows were discarded, but {statements} before the \
             error (schema changes, TRUNCATE, pipeline or model statements) already committed \
             and cannot be rolled back: Brook does not run those inside transactions yet"
        )
    } else {
        format!(
            "ROLLBACK discarded the rows this transaction wrote but cannot undo {statements} \
             that already committed (schema changes, TRUNCATE, pipeline or model statements: \
             Brook does not run those inside transactions yet)"
        )
    };
    let next = if ended {
        "; the transaction has ended"
    } else {
        "; end the block with ROLLBACK"
    };
    super::errors::error_response(
        crate::error::SqlState::FEATURE_NOT_SUPPORTED,
        format!("{what}{next}"),
    )
}

/// Follow `response` through the session's block; a rollback that would
/// have to undo committed writes comes back as an error instead (after a
/// `ROLLBACK` the session is idle, after a `ROLLBACK TO` the block is failed).
pub fn observe<C: ClientInfo>(client: &C, response: Response) -> Response {
    let took_part = client
        .session_extensions()
        .get::<TookPart>()
        .is_some_and(|t| t.0.swap(false, Ordering::Relaxed));
    let slot = client
        .session_extensions()
        .get_or_insert_with(TransactionBlock::default);
    let Ok(mut state) = slot.0.lock() else {
        return response;
    };
    match &response {
        Response::TransactionStart(_) => {
            if !state.open {
                *state = State {
                    open: true,
                    ..State::default()
                };
            }
            response
        }
        Response::TransactionEnd(tag) => {
            let undo = command(tag) == "ROLLBACK" && state.writes > 0;
            if undo {
                // The transaction has ended (its rows are discarded): the
                // client is idle again, with this error to read.
                let refused = refusal(state.writes, state.failed, true);
                *state = State::default();
                return refused;
            }
            *state = State::default();
            response
        }
        Response::Execution(tag) if state.open && command(tag) == "SAVEPOINT" => {
            let at = state.writes;
            state.savepoints.push(at);
            response
        }
        Response::Execution(tag) if state.open && command(tag) == "RELEASE" => {
            state.savepoints.pop();
            response
        }
        // ROLLBACK TO SAVEPOINT (an Execution, the block goes on).
        Response::Execution(tag)
            if state.open
                && command(tag) == "ROLLBACK"
                && state.writes > state.savepoints.first().copied().unwrap_or(0) =>
        {
            let mark = state.savepoints.first().copied().unwrap_or(0);
            let refused = refusal(state.writes - mark, state.failed, false);
            // Reported: a later ROLLBACK speaks only of the writes before.
            state.writes = mark;
            state.failed = true;
            refused
        }
        Response::Execution(tag) if state.open && writes(tag) && !took_part => {
            state.writes += 1;
            response
        }
        Response::Error(_) if state.open => {
            state.failed = true;
            response
        }
        _ => response,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_that_write() {
        assert!(!writes(&Tag::new("INSERT").with_oid(0).with_rows(3)));
        assert!(writes(&Tag::new("CREATE TABLE")));
        assert!(writes(&Tag::new("TRUNCATE TABLE")));
        assert!(!writes(&Tag::new("DELETE").with_rows(0)));
        assert!(!writes(&Tag::new("SELECT").with_rows(1)));
        assert!(!writes(&Tag::new("SET")));
        assert!(!writes(&Tag::new("SAVEPOINT")));
        assert!(!writes(&Tag::new("DECLARE CURSOR")));
    }
}
