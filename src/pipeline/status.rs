//! The live state of each pipeline, shared between its runner and the system
//! tables: state, last error, per-partition cursors and recent batches.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::SystemTime;

/// How many recent batches `pipelines_batches_summary` keeps per pipeline.
const KEPT_BATCHES: usize = 1000;

/// The states of SPEC §2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Stopped,
    Running,
    Retrying,
    Error,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Stopped => "Stopped",
            State::Running => "Running",
            State::Retrying => "Retrying",
            State::Error => "Error",
        }
    }
}

/// Where one partition stands.
#[derive(Debug, Clone, Default)]
pub struct Cursor {
    /// The next offset to load (everything before it is committed).
    pub committed_offset: Option<i64>,
    pub high_watermark: Option<i64>,
    pub last_batch_at: Option<SystemTime>,
}

impl Cursor {
    /// Messages not yet loaded: the whole partition before the first commit.
    pub fn lag(&self) -> Option<i64> {
        match (self.high_watermark, self.committed_offset) {
            (Some(h), Some(o)) => Some((h - o).max(0)),
            (Some(h), None) => Some(h),
            _ => None,
        }
    }
}

/// One batch as `pipelines_batches_summary` shows it.
#[derive(Debug, Clone)]
pub struct BatchSummary {
    pub batch_id: u64,
    pub rows: u64,
    pub filtered: u64,
    pub errors: u64,
    pub bytes: u64,
    pub started_at: SystemTime,
    pub duration_ms: u64,
    pub status: &'static str,
}

#[derive(Debug)]
pub struct Snapshot {
    pub state: State,
    pub last_error: Option<String>,
    pub cursors: BTreeMap<i32, Cursor>,
    pub batches: VecDeque<BatchSummary>,
}

/// A pipeline's status, updated by its runner and read by queries.
#[derive(Debug)]
pub struct Status {
    inner: Mutex<Snapshot>,
}

impl Status {
    pub fn new(state: State, last_error: Option<String>) -> Self {
        Self {
            inner: Mutex::new(Snapshot {
                state,
                last_error,
                cursors: BTreeMap::new(),
                batches: VecDeque::new(),
            }),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Snapshot) -> R) -> R {
        let mut guard = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    pub fn state(&self) -> State {
        self.with(|s| s.state)
    }

    /// Change state; an error given here becomes `last_error`, otherwise the
    /// previous one stays visible (users look for it after a recovery).
    pub fn set_state(&self, state: State, last_error: Option<String>) {
        self.with(|s| {
            s.state = state;
            if let Some(e) = last_error {
                s.last_error = Some(e);
            }
        });
    }

    /// Forget the last error (an explicit `START` after the user fixed it).
    pub fn clear_error(&self) {
        self.with(|s| s.last_error = None);
    }

    /// Record an error without changing the state (shown as `last_error`).
    pub fn note_error(&self, error: String) {
        self.with(|s| s.last_error = Some(error));
    }

    pub fn set_committed(&self, partition: i32, next_offset: i64, at: Option<SystemTime>) {
        self.with(|s| {
            let c = s.cursors.entry(partition).or_default();
            c.committed_offset = Some(next_offset);
            if at.is_some() {
                c.last_batch_at = at;
            }
        });
    }

    pub fn set_high_watermark(&self, partition: i32, high: i64) {
        self.with(|s| s.cursors.entry(partition).or_default().high_watermark = Some(high));
    }

    pub fn next_batch_id(&self) -> u64 {
        self.with(|s| s.batches.back().map_or(1, |b| b.batch_id + 1))
    }

    pub fn push_batch(&self, summary: BatchSummary) {
        self.with(|s| {
            if s.batches.len() == KEPT_BATCHES {
                s.batches.pop_front();
            }
            s.batches.push_back(summary);
        });
    }

    pub fn snapshot(&self) -> Snapshot {
        self.with(|s| Snapshot {
            state: s.state,
            last_error: s.last_error.clone(),
            cursors: s.cursors.clone(),
            batches: s.batches.clone(),
        })
    }
}
