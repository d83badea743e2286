//! The bytes of a write-ahead-log segment, and reading them back with every
//! record checked.
//!
//! A segment is a header followed by records, each framed by its length and a
//! checksum:
//!
//! ```text
//! segment: "BROOKWAL" | format u32 | first LSN u64                 (20 bytes)
//! record:  payload length u32 | CRC-32 of (LSN, payload) u32 | LSN u64 | payload
//! ```
//!
//! All integers are little-endian. The LSN is inside the checksum, so a record
//! copied to the wrong place is caught as surely as a flipped byte, and LSNs
//! run without gaps, so a lost record is caught too. The checksum is CRC-32
//! (crc32fast, already linked through the Parquet and gzip code, with a
//! hardware path): it catches every burst error up to 32 bits and torn
//! writes, which is what a log on a local disk or an object store meets.

use std::fmt;

/// Identifies a Brook WAL segment.
const MAGIC: &[u8; 8] = b"BROOKWAL";
/// The layout above. A segment with another version is refused, never dropped:
/// a newer Brook wrote it and its records are real.
pub const FORMAT_VERSION: u32 = 1;
pub const HEADER_LEN: usize = 20;
const RECORD_HEADER_LEN: usize = 16;
/// The largest payload a record may carry. A statement's rows are capped at
/// 1 GiB in memory (COPY) before they are logged; a length above this limit
/// in a segment is a damaged length field, not a record.
pub const MAX_PAYLOAD: usize = 1536 << 20;

/// One logged commit: its log sequence number and the bytes its writer gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub lsn: u64,
    pub payload: Vec<u8>,
}

/// Why reading a segment stopped before its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The segment is shorter than its header or does not start with it.
    BadHeader,
    /// The header names a format this Brook does not know.
    UnknownFormat(u32),
    /// The last record was cut short (a crash during its write).
    Torn,
    /// A length field larger than any record Brook writes.
    ImpossibleLength(usize),
    /// The record's bytes do not match its checksum.
    Checksum { lsn: u64 },
    /// A record whose LSN is not the next one.
    OutOfSequence { expected: u64, found: u64 },
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::BadHeader => write!(f, "the segment header is missing or damaged"),
            Fault::UnknownFormat(v) => write!(f, "unknown segment format version {v}"),
            Fault::Torn => write!(f, "the last record is incomplete (torn write)"),
            Fault::ImpossibleLength(n) => write!(f, "a record length of {n} bytes is damaged"),
            Fault::Checksum { lsn } => write!(f, "the record with LSN {lsn} fails its checksum"),
            Fault::OutOfSequence { expected, found } => {
                write!(
                    f,
                    "expected the record with LSN {expected}, found LSN {found}"
                )
            }
        }
    }
}

/// What a segment holds: the records up to the first fault, and where the
/// valid prefix ends.
#[derive(Debug)]
pub struct Scan {
    /// The LSN of the segment's first record, from its header.
    pub first_lsn: Option<u64>,
    pub records: Vec<Record>,
    /// Bytes of the segment that are a valid header and valid records.
    pub valid_len: usize,
    pub fault: Option<Fault>,
}

/// The header of a segment whose first record will have `first_lsn`.
pub fn segment_header(first_lsn: u64) -> [u8; HEADER_LEN] {
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(MAGIC);
    header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header[12..20].copy_from_slice(&first_lsn.to_le_bytes());
    header
}

fn checksum(lsn: u64, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&lsn.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// Append the framed record to `out`. The payload's length is checked by the
/// caller against [`MAX_PAYLOAD`].
pub fn encode_record(lsn: u64, payload: &[u8], out: &mut Vec<u8>) {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&checksum(lsn, payload).to_le_bytes());
    out.extend_from_slice(&lsn.to_le_bytes());
    out.extend_from_slice(payload);
}

/// The framed size of a record with `payload_len` bytes.
pub fn framed_len(payload_len: usize) -> usize {
    RECORD_HEADER_LEN + payload_len
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(b)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

/// Read a whole segment, checking the header, every record's checksum and the
/// LSN sequence; stop at the first fault.
pub fn scan_segment(bytes: &[u8]) -> Scan {
    let stop = |fault| Scan {
        first_lsn: None,
        records: Vec::new(),
        valid_len: 0,
        fault: Some(fault),
    };
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
        return stop(Fault::BadHeader);
    }
    let version = u32_at(bytes, 8);
    if version != FORMAT_VERSION {
        return stop(Fault::UnknownFormat(version));
    }
    let first_lsn = u64_at(bytes, 12);
    let mut records = Vec::new();
    let mut at = HEADER_LEN;
    let mut expected = first_lsn;
    let fault = loop {
        let rest = bytes.len() - at;
        if rest == 0 {
            break None;
        }
        if rest < RECORD_HEADER_LEN {
            break Some(Fault::Torn);
        }
        let len = u32_at(bytes, at) as usize;
        if len > MAX_PAYLOAD {
            break Some(Fault::ImpossibleLength(len));
        }
        if rest < RECORD_HEADER_LEN + len {
            break Some(Fault::Torn);
        }
        let crc = u32_at(bytes, at + 4);
        let lsn = u64_at(bytes, at + 8);
        let payload = &bytes[at + RECORD_HEADER_LEN..at + RECORD_HEADER_LEN + len];
        if checksum(lsn, payload) != crc {
            break Some(Fault::Checksum { lsn });
        }
        if lsn != expected {
            break Some(Fault::OutOfSequence {
                expected,
                found: lsn,
            });
        }
        records.push(Record {
            lsn,
            payload: payload.to_vec(),
        });
        expected += 1;
        at += RECORD_HEADER_LEN + len;
    };
    Scan {
        first_lsn: Some(first_lsn),
        records,
        valid_len: at,
        fault,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(first: u64, payloads: &[&[u8]]) -> Vec<u8> {
        let mut bytes = segment_header(first).to_vec();
        for (i, p) in payloads.iter().enumerate() {
            encode_record(first + i as u64, p, &mut bytes);
        }
        bytes
    }

    #[test]
    fn reads_back_what_was_written() {
        let bytes = segment(7, &[b"one", b"", b"three"]);
        let scan = scan_segment(&bytes);
        assert_eq!(scan.fault, None);
        assert_eq!(scan.first_lsn, Some(7));
        assert_eq!(scan.valid_len, bytes.len());
        let got: Vec<(u64, &[u8])> = scan
            .records
            .iter()
            .map(|r| (r.lsn, r.payload.as_slice()))
            .collect();
        assert_eq!(
            got,
            vec![(7, &b"one"[..]), (8, &b""[..]), (9, &b"three"[..])]
        );
    }

    #[test]
    fn a_cut_at_any_byte_keeps_exactly_the_whole_records_before_it() {
        let bytes = segment(1, &[b"alpha", b"beta", b"gamma"]);
        let ends: Vec<usize> = {
            let full = scan_segment(&bytes);
            let mut at = HEADER_LEN;
            full.records
                .iter()
                .map(|r| {
                    at += framed_len(r.payload.len());
                    at
                })
                .collect()
        };
        for cut in 0..bytes.len() {
            let scan = scan_segment(&bytes[..cut]);
            if cut < HEADER_LEN {
                assert_eq!(scan.fault, Some(Fault::BadHeader), "cut at {cut}");
                continue;
            }
            let whole = ends.iter().filter(|&&end| end <= cut).count();
            assert_eq!(scan.records.len(), whole, "cut at {cut}");
            let clean = cut == HEADER_LEN || ends.contains(&cut);
            assert_eq!(scan.fault.is_none(), clean, "cut at {cut}");
            if !clean {
                assert_eq!(scan.fault, Some(Fault::Torn), "cut at {cut}");
            }
        }
    }

    #[test]
    fn a_flipped_byte_stops_the_scan_at_the_damaged_record() {
        let bytes = segment(1, &[b"alpha", b"beta", b"gamma"]);
        let second = HEADER_LEN + framed_len(5);
        // Flip each byte of the second record in turn.
        for at in second..second + framed_len(4) {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x40;
            let scan = scan_segment(&damaged);
            assert_eq!(scan.records.len(), 1, "flip at {at}");
            assert_eq!(scan.valid_len, second, "flip at {at}");
            assert!(scan.fault.is_some(), "flip at {at}");
        }
    }

    #[test]
    fn a_record_out_of_sequence_is_a_fault() {
        let mut bytes = segment(1, &[b"a"]);
        encode_record(3, b"c", &mut bytes);
        let scan = scan_segment(&bytes);
        assert_eq!(scan.records.len(), 1);
        assert_eq!(
            scan.fault,
            Some(Fault::OutOfSequence {
                expected: 2,
                found: 3
            })
        );
    }

    #[test]
    fn an_unknown_format_is_named() {
        let mut bytes = segment(1, &[b"a"]);
        bytes[8] = 9;
        assert_eq!(scan_segment(&bytes).fault, Some(Fault::UnknownFormat(9)));
    }
}
