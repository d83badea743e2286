//! The log on a real directory: what is appended is read back after a
//! restart, and damage is found, cut off and kept aside.

use std::path::Path;

use super::*;

fn open(dir: &Path) -> Opened {
    Wal::open(dir, 0, WalOptions::default()).expect("open the log")
}

fn payloads(records: &[Record]) -> Vec<(u64, Vec<u8>)> {
    records.iter().map(|r| (r.lsn, r.payload.clone())).collect()
}

/// `count` records of `len` bytes each (record `i` is `len` times `i`),
/// written and the log closed again.
async fn write_records(dir: &Path, options: &WalOptions, count: u8, len: usize) {
    let wal = Wal::open(dir, 0, options.clone()).unwrap().wal;
    for i in 0..count {
        wal.append(vec![i; len]).await.unwrap();
    }
}

fn segments(dir: &Path) -> Vec<std::path::PathBuf> {
    recovery::list_segments(dir)
        .unwrap()
        .into_iter()
        .map(|(_, p)| p)
        .collect()
}

#[tokio::test]
async fn appended_records_come_back_in_order_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let opened = open(dir.path());
        assert!(opened.records.is_empty());
        for i in 0..5u8 {
            assert_eq!(
                opened.wal.append(vec![i; 3]).await.unwrap(),
                u64::from(i) + 1
            );
        }
        assert_eq!(opened.wal.durable_lsn(), 5);
    }
    let opened = open(dir.path());
    assert_eq!(
        payloads(&opened.records),
        (0..5u8)
            .map(|i| (u64::from(i) + 1, vec![i; 3]))
            .collect::<Vec<_>>()
    );
    assert!(opened.dropped.is_none());
    // Numbering goes on after the records found.
    assert_eq!(opened.wal.append(b"next".to_vec()).await.unwrap(), 6);
}

#[tokio::test]
async fn concurrent_commits_share_fsyncs_and_get_distinct_lsns() {
    let dir = tempfile::tempdir().unwrap();
    let wal = open(dir.path()).wal;
    let tasks: Vec<_> = (0..200u32)
        .map(|i| {
            let wal = wal.clone();
            tokio::spawn(async move { wal.append(i.to_le_bytes().to_vec()).await })
        })
        .collect();
    let mut lsns = Vec::new();
    for t in tasks {
        lsns.push(t.await.unwrap().unwrap());
    }
    lsns.sort_unstable();
    assert_eq!(lsns, (1..=200).collect::<Vec<u64>>());
    // The 200 commits were all waiting before the first fsync ended.
    assert!(wal.syncs() < 200, "{} fsyncs for 200 commits", wal.syncs());
    drop(wal);
    let records = open(dir.path()).records;
    assert_eq!(records.len(), 200);
    // Each payload is logged once, under the LSN its writer was told.
    let mut seen: Vec<u32> = records
        .iter()
        .map(|r| u32::from_le_bytes(r.payload.as_slice().try_into().unwrap()))
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (0..200).collect::<Vec<u32>>());
}

#[tokio::test]
async fn a_torn_tail_is_cut_off_kept_aside_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    write_records(dir.path(), &WalOptions::default(), 3, 100).await;
    let segment = segments(dir.path()).pop().unwrap();
    let len = std::fs::metadata(&segment).unwrap().len();
    // The last record loses its last 10 bytes, as in a crash mid-write.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap()
        .set_len(len - 10)
        .unwrap();
    let opened = open(dir.path());
    assert_eq!(
        payloads(&opened.records),
        vec![(1, vec![0; 100]), (2, vec![1; 100])]
    );
    let dropped = opened.dropped.expect("the torn record is reported");
    assert_eq!(dropped.after_lsn, 2);
    assert!(dropped.reason.contains("incomplete"), "{}", dropped.reason);
    assert_eq!(dropped.bytes, (format::framed_len(100) - 10) as u64);
    let kept: Vec<_> = std::fs::read_dir(&dropped.kept_in).unwrap().collect();
    assert_eq!(kept.len(), 1, "the torn bytes are kept, not deleted");
    // The log goes on from the last whole record, and a second restart
    // finds nothing more to drop.
    assert_eq!(opened.wal.append(b"after".to_vec()).await.unwrap(), 3);
    drop(opened.wal);
    let again = open(dir.path());
    assert!(again.dropped.is_none());
    assert_eq!(again.records.len(), 3);
    assert_eq!(again.records[2].payload, b"after");
}

#[tokio::test]
async fn a_flipped_byte_drops_that_record_and_everything_after_it() {
    let dir = tempfile::tempdir().unwrap();
    write_records(dir.path(), &WalOptions::default(), 4, 50).await;
    let segment = segments(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    // A byte inside the second record's payload.
    let at = format::HEADER_LEN + format::framed_len(50) + 16 + 20;
    bytes[at] ^= 0x01;
    std::fs::write(&segment, &bytes).unwrap();
    let opened = open(dir.path());
    assert_eq!(payloads(&opened.records), vec![(1, vec![0; 50])]);
    let dropped = opened.dropped.unwrap();
    assert!(dropped.reason.contains("checksum"), "{}", dropped.reason);
    assert_eq!(dropped.after_lsn, 1);
    assert_eq!(dropped.bytes, 3 * format::framed_len(50) as u64);
}

#[tokio::test]
async fn damage_in_an_older_segment_sets_aside_the_later_segments_too() {
    let dir = tempfile::tempdir().unwrap();
    let small = WalOptions { segment_bytes: 200 };
    write_records(dir.path(), &small, 6, 100).await;
    let files = segments(dir.path());
    assert!(files.len() >= 3, "{files:?}");
    // Damage the first record of the second segment holding records.
    let second = &files[1];
    let mut bytes = std::fs::read(second).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(second, &bytes).unwrap();
    let opened = Wal::open(dir.path(), 0, small).unwrap();
    assert_eq!(payloads(&opened.records), vec![(1, vec![0; 100])]);
    let dropped = opened.dropped.unwrap();
    assert_eq!(dropped.after_lsn, 1);
    assert_eq!(opened.wal.append(b"x".to_vec()).await.unwrap(), 2);
}

#[tokio::test]
async fn released_segments_go_and_numbering_never_runs_backwards() {
    let dir = tempfile::tempdir().unwrap();
    let small = WalOptions { segment_bytes: 200 };
    {
        let wal = Wal::open(dir.path(), 0, small.clone()).unwrap().wal;
        for i in 0..6u8 {
            wal.append(vec![i; 100]).await.unwrap();
        }
        let before = segments(dir.path()).len();
        wal.release_through(6);
        // The release is served in order with appends: one more append
        // returns after it.
        wal.append(b"marker".to_vec()).await.unwrap();
        let after = segments(dir.path()).len();
        assert!(after < before, "{before} segments before, {after} after");
    }
    // The segment being written is never removed: LSN 6 stays with it.
    let opened = Wal::open(dir.path(), 0, small.clone()).unwrap();
    assert_eq!(
        payloads(&opened.records),
        vec![(6, vec![5; 100]), (7, b"marker".to_vec())]
    );
    opened.wal.release_through(7);
    assert_eq!(opened.wal.append(b"y".to_vec()).await.unwrap(), 8);
    drop(opened);
    // With every record released, the active segment still carries the
    // number; and a floor from the tables is respected even without it.
    let opened = Wal::open(dir.path(), 0, small.clone()).unwrap();
    assert_eq!(opened.wal.append(b"z".to_vec()).await.unwrap(), 9);
    drop(opened);
    let empty = tempfile::tempdir().unwrap();
    let opened = Wal::open(empty.path(), 41, small).unwrap();
    assert_eq!(opened.wal.append(b"z".to_vec()).await.unwrap(), 42);
}

#[tokio::test]
async fn restarts_without_commits_do_not_pile_up_segments() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..5 {
        drop(open(dir.path()));
    }
    assert_eq!(segments(dir.path()).len(), 1);
}

#[tokio::test]
async fn a_segment_from_a_newer_format_is_refused_not_dropped() {
    let dir = tempfile::tempdir().unwrap();
    {
        open(dir.path()).wal.append(b"a".to_vec()).await.unwrap();
    }
    let segment = segments(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[8] = 2;
    std::fs::write(&segment, &bytes).unwrap();
    let err = Wal::open(dir.path(), 0, WalOptions::default())
        .err()
        .expect("refused");
    assert!(
        matches!(err, WalError::UnknownFormat { version: 2, .. }),
        "{err}"
    );
    assert_eq!(std::fs::read(&segment).unwrap(), bytes, "left as it was");
}

#[tokio::test]
async fn an_oversized_commit_is_refused_before_it_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let wal = open(dir.path()).wal;
    let err = wal.append(vec![0; MAX_PAYLOAD + 1]).await.unwrap_err();
    assert!(matches!(err, WalError::TooLarge(_)));
    assert_eq!(wal.append(b"ok".to_vec()).await.unwrap(), 1);
}
