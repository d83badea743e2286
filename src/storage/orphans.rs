//! Parquet files that no commit names: what a writer killed between writing
//! its files and committing them leaves in a table's directory. They are
//! never read (readers follow the log), but they fill the disk, so a table
//! removes them when it is opened — at start-up, when no commit can be in
//! flight.
//!
//! A file is kept when the current snapshot reads it or any commit still in
//! `_delta_log` adds or removes it (an older snapshot may read it until it is
//! vacuumed). When the log cannot be read whole, nothing is removed: a
//! doubt keeps the file.

use std::collections::HashSet;
use std::path::Path;

use deltalake::DeltaTable;
use tracing::{info, warn};

/// Remove the orphaned Parquet files of the table in `dir`; how many.
pub fn remove(dir: &Path, table: &DeltaTable) -> usize {
    let Some(kept) = referenced(dir, table) else {
        return 0;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if !is_file || !name.ends_with(".parquet") || kept.contains(&name) {
            continue;
        }
        match std::fs::remove_file(entry.path()) {
            Ok(()) => {
                removed += 1;
                info!(file = %entry.path().display(), "removed a data file no commit names");
            }
            Err(e) => {
                warn!(file = %entry.path().display(), error = %e, "could not remove an orphaned data file")
            }
        }
    }
    removed
}

/// File names the table may still read, or `None` if that cannot be known.
fn referenced(dir: &Path, table: &DeltaTable) -> Option<HashSet<String>> {
    let mut names = HashSet::new();
    for uri in table.get_file_uris().ok()? {
        names.insert(base_name(&decode(&uri))?.to_string());
    }
    for entry in std::fs::read_dir(dir.join("_delta_log")).ok()? {
        let entry = entry.ok()?;
        let name = entry.file_name().to_string_lossy().to_string();
        if !name.ends_with(".json") {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).ok()?;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let action: serde_json::Value = serde_json::from_str(line).ok()?;
            for kind in ["add", "remove", "cdc"] {
                if let Some(path) = action
                    .get(kind)
                    .and_then(|a| a.get("path"))
                    .and_then(|p| p.as_str())
                {
                    names.insert(base_name(&decode(path))?.to_string());
                }
            }
        }
    }
    Some(names)
}

fn base_name(path: &str) -> Option<&str> {
    path.rsplit('/').next().filter(|n| !n.is_empty())
}

/// Delta's paths are percent-encoded URIs.
fn decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = path.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_decoded_to_their_file_names() {
        assert_eq!(decode("a%20b.parquet"), "a b.parquet");
        assert_eq!(
            base_name("file:///x/y/part-1.parquet"),
            Some("part-1.parquet")
        );
        assert_eq!(base_name("dir/"), None);
    }
}
