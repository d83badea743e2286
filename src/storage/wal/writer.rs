//! The one thread that appends to the log: group commit.
//!
//! Commits arrive on a channel. The thread takes every commit waiting, writes
//! them with one positional write and makes them durable with one
//! `fdatasync`, then answers each with its LSN. While an fsync runs, the next
//! commits queue up and share the next one, so the number of fsyncs follows
//! the disk's speed, not the number of writers (PostgreSQL's group commit
//! does the same without `commit_delay`). A plain thread, not a tokio task:
//! the work is blocking file I/O from start to end.

use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::{mpsc, oneshot};

use super::error::WalError;
use super::format::{self, HEADER_LEN};
use super::recovery::{segment_path, sync_dir};

/// A group takes at most this many bytes: a queue of large COPY commits is
/// written in several groups rather than one huge buffer.
const GROUP_BYTES: usize = 64 << 20;

/// Where a commit's LSN (or the reason it failed) is sent.
pub(super) type Reply = oneshot::Sender<Result<u64, WalError>>;

pub(super) enum Request {
    Append {
        payload: Vec<u8>,
        reply: Reply,
    },
    /// Every record up to this LSN is applied where it belongs: segments
    /// holding only such records may go.
    Release {
        through: u64,
    },
}

/// What the writer shares with the handles.
#[derive(Default)]
pub(super) struct Shared {
    pub syncs: AtomicU64,
    /// The highest LSN that is durable.
    pub durable_lsn: AtomicU64,
    /// Set once after a failure that leaves the file in an unknown state.
    pub stopped: OnceLock<String>,
}

pub(super) struct Writer {
    dir: PathBuf,
    /// Segments before the active one, oldest first, by first LSN.
    sealed: VecDeque<(u64, PathBuf)>,
    active: File,
    active_path: PathBuf,
    active_first: u64,
    active_len: u64,
    next_lsn: u64,
    segment_bytes: u64,
    shared: Arc<Shared>,
}

fn create_segment(dir: &Path, first_lsn: u64) -> Result<(File, PathBuf), WalError> {
    let path = segment_path(dir, first_lsn);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| WalError::io(&path, e))?;
    file.write_all_at(&format::segment_header(first_lsn), 0)
        .and_then(|()| file.sync_all())
        .map_err(|e| WalError::io(&path, e))?;
    sync_dir(dir)?;
    Ok((file, path))
}

impl Writer {
    /// Open the segment new commits go to: a fresh one, or the empty one a
    /// previous start left for `next_lsn` (segments that hold records are
    /// never written again: they can be shipped whole to an object store);
    /// then remove earlier segments that hold no records.
    pub(super) fn start(
        dir: &Path,
        segments: Vec<(u64, PathBuf)>,
        next_lsn: u64,
        segment_bytes: u64,
        shared: Arc<Shared>,
    ) -> Result<Self, WalError> {
        let mut sealed: VecDeque<(u64, PathBuf)> = VecDeque::new();
        let mut reuse = None;
        for (first, path) in segments {
            if first == next_lsn {
                // Recovery ended in this segment and it holds no records (a
                // previous start made it): new commits go there.
                reuse = Some(path);
            } else {
                sealed.push_back((first, path));
            }
        }
        let (active, active_path, active_len) = match reuse {
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&path)
                    .map_err(|e| WalError::io(&path, e))?;
                let len = file.metadata().map_err(|e| WalError::io(&path, e))?.len();
                (file, path, len)
            }
            None => {
                let (file, path) = create_segment(dir, next_lsn)?;
                (file, path, HEADER_LEN as u64)
            }
        };
        // A sealed segment is empty when the next one starts at the same LSN.
        let mut kept = VecDeque::new();
        let mut empties = false;
        while let Some((first, path)) = sealed.pop_front() {
            let next_first = sealed.front().map_or(next_lsn, |(f, _)| *f);
            if next_first == first {
                std::fs::remove_file(&path).map_err(|e| WalError::io(&path, e))?;
                empties = true;
            } else {
                kept.push_back((first, path));
            }
        }
        if empties {
            sync_dir(dir)?;
        }
        shared
            .durable_lsn
            .store(next_lsn.saturating_sub(1), Ordering::Release);
        Ok(Self {
            dir: dir.to_path_buf(),
            sealed: kept,
            active,
            active_path,
            active_first: next_lsn,
            active_len,
            next_lsn,
            segment_bytes,
            shared,
        })
    }

    /// Serve requests until every handle is gone.
    pub(super) fn run(mut self, mut requests: mpsc::UnboundedReceiver<Request>) {
        while let Some(first) = requests.blocking_recv() {
            let mut group = Vec::new();
            let mut bytes = 0;
            let mut release = None;
            let mut next = Some(first);
            while let Some(request) = next.take() {
                match request {
                    Request::Append { payload, reply } => {
                        bytes += format::framed_len(payload.len());
                        group.push((payload, reply));
                    }
                    Request::Release { through } => {
                        release = release.max(Some(through));
                    }
                }
                if bytes < GROUP_BYTES {
                    next = requests.try_recv().ok();
                }
            }
            // Releases first: they concern records already applied, and a
            // caller that appends after releasing finds the release done.
            if let Some(through) = release {
                self.release(through);
            }
            if !group.is_empty() {
                self.commit(group);
            }
        }
    }

    fn commit(&mut self, group: Vec<(Vec<u8>, Reply)>) {
        let result = self.write_group(&group);
        for (i, (_, reply)) in group.into_iter().enumerate() {
            let answer = match &result {
                Ok(first_lsn) => Ok(first_lsn + i as u64),
                Err(e) => Err(e.duplicate()),
            };
            // A waiter that went away (its client hung up) needs no answer;
            // its commit is durable all the same.
            let _ = reply.send(answer);
        }
    }

    /// Write and sync the group; the LSN of its first record.
    fn write_group(&mut self, group: &[(Vec<u8>, Reply)]) -> Result<u64, WalError> {
        if let Some(why) = self.shared.stopped.get() {
            return Err(WalError::Stopped(why.clone()));
        }
        let size: usize = group.iter().map(|(p, _)| format::framed_len(p.len())).sum();
        if self.active_len > HEADER_LEN as u64 && self.active_len + size as u64 > self.segment_bytes
        {
            self.roll()?;
        }
        let first_lsn = self.next_lsn;
        let mut buffer = Vec::with_capacity(size);
        for (i, (payload, _)) in group.iter().enumerate() {
            format::encode_record(first_lsn + i as u64, payload, &mut buffer);
        }
        if let Err(e) = self.active.write_all_at(&buffer, self.active_len) {
            // Nothing was acknowledged: cut the file back to what it held
            // (a full disk leaves a partial write) and carry on.
            let restored = self
                .active
                .set_len(self.active_len)
                .and_then(|()| self.active.sync_data());
            if let Err(undo) = restored {
                self.stop(format!("could not undo a failed write: {undo}"));
            }
            return Err(WalError::io(&self.active_path, e));
        }
        if let Err(e) = self.active.sync_data() {
            self.stop(format!("fsync failed: {e}"));
            return Err(WalError::io(&self.active_path, e));
        }
        self.active_len += buffer.len() as u64;
        self.next_lsn += group.len() as u64;
        self.shared.syncs.fetch_add(1, Ordering::Relaxed);
        self.shared
            .durable_lsn
            .store(self.next_lsn - 1, Ordering::Release);
        Ok(first_lsn)
    }

    fn stop(&self, why: String) {
        tracing::error!(wal = %self.active_path.display(), "{why}; the write-ahead log accepts no more commits");
        let _ = self.shared.stopped.set(why);
    }

    /// Close the active segment and open the next.
    fn roll(&mut self) -> Result<(), WalError> {
        let (file, path) = create_segment(&self.dir, self.next_lsn)?;
        let old_path = std::mem::replace(&mut self.active_path, path);
        self.active = file;
        self.sealed.push_back((self.active_first, old_path));
        self.active_first = self.next_lsn;
        self.active_len = HEADER_LEN as u64;
        Ok(())
    }

    /// Remove sealed segments whose records all have LSNs up to `through`.
    fn release(&mut self, through: u64) {
        let mut removed = false;
        while let Some((_, path)) = self.sealed.front() {
            let next_first = self.sealed.get(1).map_or(self.active_first, |(f, _)| *f);
            if next_first > through.saturating_add(1) {
                break;
            }
            if let Err(e) = std::fs::remove_file(path) {
                tracing::warn!(segment = %path.display(), "could not remove an applied log segment: {e}");
                break;
            }
            removed = true;
            self.sealed.pop_front();
        }
        if removed && let Err(e) = sync_dir(&self.dir) {
            tracing::warn!("{e}");
        }
    }
}
