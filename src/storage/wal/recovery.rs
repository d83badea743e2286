//! Reading the log back at start-up: every record of the valid prefix, in
//! LSN order, and what had to be set aside after it.
//!
//! A crash can leave the last record half written; a disk can flip a byte; an
//! operator can delete a segment. Each is found by the framing in
//! [`super::format`]. Recovery keeps the longest prefix of records that are
//! whole, correct and consecutive, and moves everything after the first
//! fault into `dropped/` beside the segments (never deletes it), so that the
//! server starts from a state it can vouch for and the operator can see, in
//! the log and on disk, exactly what was not replayed.

use std::path::{Path, PathBuf};

use super::error::WalError;
use super::format::{self, Fault, HEADER_LEN, Record};

/// The log as found on disk.
pub(super) struct Recovered {
    pub records: Vec<Record>,
    /// Segments still holding records, by the LSN of their first record.
    pub segments: Vec<(u64, PathBuf)>,
    /// The LSN the next commit gets.
    pub next_lsn: u64,
    pub dropped: Option<Dropped>,
}

/// The part of the log that recovery could not trust and set aside.
#[derive(Debug, Clone)]
pub struct Dropped {
    /// The last LSN recovered (0: none).
    pub after_lsn: u64,
    pub reason: String,
    pub segment: PathBuf,
    /// Where in that segment the valid prefix ends.
    pub offset: usize,
    /// Bytes moved aside, this segment's tail and any later segments.
    pub bytes: u64,
    /// Where they are kept.
    pub kept_in: PathBuf,
}

/// The name of the segment whose first record has `first_lsn`: the number
/// zero-padded, so that names sort as LSNs do.
pub(super) fn segment_path(dir: &Path, first_lsn: u64) -> PathBuf {
    dir.join(format!("{first_lsn:020}.wal"))
}

/// The segments in `dir`, oldest first.
pub(super) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, WalError> {
    let mut segments = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| WalError::io(dir, e))? {
        let entry = entry.map_err(|e| WalError::io(dir, e))?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".wal")) else {
            continue;
        };
        if stem.len() == 20
            && let Ok(first) = stem.parse::<u64>()
        {
            segments.push((first, entry.path()));
        }
    }
    segments.sort();
    Ok(segments)
}

pub(super) fn sync_dir(dir: &Path) -> Result<(), WalError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| WalError::io(dir, e))
}

/// Read every segment in `dir`. `floor` is the highest LSN already applied
/// anywhere (the tables remember it), so that LSNs never run backwards even
/// if the log's files were lost.
pub(super) fn recover(dir: &Path, floor: u64) -> Result<Recovered, WalError> {
    let listed = list_segments(dir)?;
    let mut records: Vec<Record> = Vec::new();
    let mut segments = Vec::new();
    let mut expected: Option<u64> = None;
    for (index, (first, path)) in listed.iter().enumerate() {
        let bytes = std::fs::read(path).map_err(|e| WalError::io(path, e))?;
        let scan = format::scan_segment(&bytes);
        if let Some(Fault::UnknownFormat(version)) = scan.fault {
            return Err(WalError::UnknownFormat {
                path: path.clone(),
                version,
            });
        }
        // The header must agree with the name, and the segment must continue
        // where the one before it ended.
        let fault = match (scan.first_lsn, expected) {
            (Some(header), _) if header != *first => Some(Fault::BadHeader),
            (Some(_), Some(next)) if next != *first => Some(Fault::OutOfSequence {
                expected: next,
                found: *first,
            }),
            _ => scan.fault.clone(),
        };
        let valid_len = if fault.is_some() && scan.fault.is_none() {
            // The records are fine but do not belong here: none is kept.
            0
        } else {
            scan.valid_len
        };
        let kept = if valid_len == 0 {
            0
        } else {
            scan.records.len()
        };
        records.extend(scan.records.into_iter().take(kept));
        if valid_len >= HEADER_LEN {
            segments.push((*first, path.clone()));
            expected = Some(first + kept as u64);
        }
        if let Some(fault) = fault {
            let after_lsn = records.last().map_or(0, |r| r.lsn);
            let dropped = set_aside(dir, &listed[index..], &bytes, valid_len, after_lsn, &fault)?;
            let next_lsn = expected.unwrap_or(1).max(floor + 1);
            return Ok(Recovered {
                records,
                segments,
                next_lsn,
                dropped: Some(dropped),
            });
        }
    }
    let next_lsn = expected.unwrap_or(1).max(floor + 1);
    Ok(Recovered {
        records,
        segments,
        next_lsn,
        dropped: None,
    })
}

/// Move the tail of the first segment in `from` (whose content is `bytes`)
/// after `valid_len`, and all later segments, into `dir/dropped/`; then cut
/// the first segment back to its valid prefix (or remove it, if not even its
/// header is valid).
fn set_aside(
    dir: &Path,
    from: &[(u64, PathBuf)],
    bytes: &[u8],
    valid_len: usize,
    after_lsn: u64,
    fault: &Fault,
) -> Result<Dropped, WalError> {
    let kept_in = dir.join("dropped");
    std::fs::create_dir_all(&kept_in).map_err(|e| WalError::io(&kept_in, e))?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (first, path) = &from[0];
    let tail = kept_in.join(format!("{first:020}.wal.from-{valid_len}.at-{stamp}"));
    write_durably(&tail, &bytes[valid_len.min(bytes.len())..])?;
    let mut moved = (bytes.len() - valid_len.min(bytes.len())) as u64;
    for (later_first, later) in &from[1..] {
        let target = kept_in.join(format!("{later_first:020}.wal.at-{stamp}"));
        moved += std::fs::metadata(later).map_or(0, |m| m.len());
        std::fs::rename(later, &target).map_err(|e| WalError::io(later, e))?;
    }
    sync_dir(&kept_in)?;
    if valid_len < HEADER_LEN {
        std::fs::remove_file(path).map_err(|e| WalError::io(path, e))?;
    } else {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| WalError::io(path, e))?;
        file.set_len(valid_len as u64)
            .and_then(|()| file.sync_all())
            .map_err(|e| WalError::io(path, e))?;
    }
    sync_dir(dir)?;
    Ok(Dropped {
        after_lsn,
        reason: fault.to_string(),
        segment: path.clone(),
        offset: valid_len,
        bytes: moved,
        kept_in,
    })
}

fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), WalError> {
    use std::io::Write;
    let mut file = std::fs::File::create(path).map_err(|e| WalError::io(path, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| WalError::io(path, e))
}
