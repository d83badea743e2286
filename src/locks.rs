//! Taking a lock whose previous holder panicked.
//!
//! Brook's in-process state behind a `Mutex` (a session's transaction and
//! settings, the sequences, temporary tables) is replaced whole under the
//! lock, never left half-written, so a panic in one session's task must
//! not make the lock unusable for every other session: the value is taken
//! as it is.

use std::sync::{Mutex, MutexGuard};

/// `mutex`'s guard, also after a holder panicked.
pub fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}
