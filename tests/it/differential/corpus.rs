//! sqllogictest files as records: statements to run on both servers and
//! queries to compare. The expected results in the files are SQLite's and
//! are not used: PostgreSQL is the oracle. `skipif`/`onlyif` lines are
//! honoured for the engine named (`postgresql`).

/// One record of a corpus file.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Statement { sql: String },
    Query { sql: String },
}

/// Parse `text`, keeping the records meant for `engine`.
pub fn parse(text: &str, engine: &str) -> Vec<Record> {
    let mut out = Vec::new();
    let mut lines = text.lines().peekable();
    while lines.peek().is_some() {
        // One block: lines up to a blank line.
        let mut block = Vec::new();
        for line in lines.by_ref() {
            if line.trim().is_empty() {
                break;
            }
            block.push(line);
        }
        let mut skip = false;
        let mut rest = block.as_slice();
        while let Some(first) = rest.first() {
            let words: Vec<&str> = first.split_whitespace().collect();
            match words.as_slice() {
                ["skipif", db, ..] => skip |= *db == engine,
                ["onlyif", db, ..] => skip |= *db != engine,
                _ => break,
            }
            rest = &rest[1..];
        }
        let Some(header) = rest.first() else {
            continue;
        };
        if header.starts_with("halt") {
            if !skip {
                break;
            }
            continue;
        }
        if skip || header.starts_with('#') {
            continue;
        }
        let body = &rest[1..];
        if header.starts_with("statement") {
            out.push(Record::Statement {
                sql: body.join("\n"),
            });
        } else if header.starts_with("query") {
            let sql: Vec<&str> = body.iter().take_while(|l| **l != "----").copied().collect();
            out.push(Record::Query {
                sql: sql.join("\n"),
            });
        }
    }
    out
}

/// Where `sql` splits into an `INSERT INTO x (…) VALUES` head and its rows.
fn insert_parts(sql: &str) -> Option<(&str, &str)> {
    let upper = sql.to_ascii_uppercase();
    if !upper.trim_start().starts_with("INSERT INTO") {
        return None;
    }
    let at = upper.find(" VALUES")?;
    let rows = sql[at + " VALUES".len()..].trim();
    // One row of constants only: a SELECT or a subquery stays as it is.
    if !rows.starts_with('(') || upper[at..].contains("SELECT") {
        return None;
    }
    Some((&sql[..at], rows))
}

/// Consecutive single-row INSERTs into the same table become one multi-row
/// INSERT: the same rows, one commit instead of hundreds (select4 inserts a
/// thousand rows one statement at a time).
pub fn merge_inserts(records: &[Record]) -> Vec<Record> {
    let mut out: Vec<Record> = Vec::new();
    for record in records {
        if let (Record::Statement { sql }, Some(Record::Statement { sql: last })) =
            (record, out.last_mut())
            && let (Some((head, rows)), Some((last_head, _))) =
                (insert_parts(sql), insert_parts(last))
            && head == last_head
        {
            last.push_str(", ");
            last.push_str(rows);
            continue;
        }
        out.push(record.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_conditions_and_merged_inserts() {
        let text = "statement ok\nCREATE TABLE t(a INTEGER)\n\n\
                    statement ok\nINSERT INTO t VALUES(1)\n\n\
                    statement ok\nINSERT INTO t VALUES(2)\n\n\
                    onlyif mysql\nquery I rowsort\nSELECT 1 DIV 2\n----\n0\n\n\
                    skipif mysql\nquery I rowsort label-1\nSELECT a\nFROM t\n----\n1\n2\n\n\
                    hash-threshold 8\n";
        let records = parse(text, "postgresql");
        assert_eq!(records.len(), 4);
        assert_eq!(
            records[3],
            Record::Query {
                sql: "SELECT a\nFROM t".into()
            }
        );
        let merged = merge_inserts(&records);
        assert_eq!(
            merged[1],
            Record::Statement {
                sql: "INSERT INTO t VALUES(1), (2)".into()
            }
        );
    }
}
