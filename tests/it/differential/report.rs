//! What the differential run found, per file and in all, with the causes of
//! Brook's errors and every wrong result spelled out.

use std::collections::BTreeMap;
use std::fmt::Write;

/// How one query compared.
pub enum Outcome {
    /// Same rows, same column types.
    Equal,
    /// Same rows; the column types differ (OIDs, PostgreSQL's then Brook's).
    OtherTypes { postgres: Vec<u32>, brook: Vec<u32> },
    /// PostgreSQL answered, Brook refused.
    BrookError { code: String, message: String },
    /// Both refused.
    BothRefuse,
    /// Both answered differently, or Brook answered where PostgreSQL refused.
    Wrong { postgres: String, brook: String },
}

#[derive(Default)]
struct Counts {
    equal: usize,
    other_types: usize,
    brook_error: usize,
    both_refuse: usize,
    wrong: usize,
}

impl Counts {
    fn total(&self) -> usize {
        self.equal + self.other_types + self.brook_error + self.both_refuse + self.wrong
    }
}

#[derive(Default)]
pub struct Report {
    pub files: Vec<String>,
    counts: BTreeMap<String, Counts>,
    /// Brook's errors by SQLSTATE and the message's first words.
    causes: BTreeMap<String, (usize, String)>,
    /// Type pair → (count, first query showing it).
    types: BTreeMap<String, (usize, String)>,
    wrong: Vec<(String, String, String, String)>,
    setup: Vec<(String, String, String)>,
}

/// Rows as a short text for the report.
pub fn show(rows: &[Vec<Option<String>>]) -> String {
    let mut text: String = rows
        .iter()
        .take(6)
        .map(|r| {
            r.iter()
                .map(|c| c.clone().unwrap_or_else(|| "NULL".into()))
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect::<Vec<_>>()
        .join("; ");
    if rows.len() > 6 {
        let _ = write!(text, "; … ({} rows)", rows.len());
    }
    text
}

/// The part of an error message that names its cause (no literals).
fn cause(message: &str) -> String {
    let words: Vec<&str> = message.split_whitespace().take(9).collect();
    words
        .join(" ")
        .chars()
        .map(|c| if c.is_ascii_digit() { '#' } else { c })
        .collect()
}

impl Report {
    pub fn add(&mut self, file: &str, sql: &str, outcome: Outcome) {
        let counts = self.counts.entry(file.to_string()).or_default();
        match outcome {
            Outcome::Equal => counts.equal += 1,
            Outcome::OtherTypes { postgres, brook } => {
                counts.other_types += 1;
                self.types
                    .entry(format!("{postgres:?} vs {brook:?}"))
                    .or_insert((0, sql.to_string()))
                    .0 += 1;
            }
            Outcome::BrookError { code, message } => {
                counts.brook_error += 1;
                let entry = self
                    .causes
                    .entry(format!("{code} {}", cause(&message)))
                    .or_insert((0, sql.to_string()));
                entry.0 += 1;
            }
            Outcome::BothRefuse => counts.both_refuse += 1,
            Outcome::Wrong { postgres, brook } => {
                counts.wrong += 1;
                self.wrong
                    .push((file.to_string(), sql.to_string(), postgres, brook));
            }
        }
    }

    pub fn setup_error(&mut self, file: &str, sql: &str, error: &str) {
        self.setup.push((
            file.to_string(),
            sql.chars().take(120).collect(),
            error.to_string(),
        ));
    }

    pub fn total(&self) -> usize {
        self.counts.values().map(Counts::total).sum()
    }

    pub fn wrong_by_file(&self) -> BTreeMap<String, usize> {
        self.counts
            .iter()
            .filter(|(_, c)| c.wrong > 0)
            .map(|(f, c)| (f.clone(), c.wrong))
            .collect()
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "| corpus | queries | equal to PostgreSQL | same values, other types | error only on Brook | both refuse | wrong |"
        );
        let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        let mut all = Counts::default();
        for file in &self.files {
            let Some(c) = self.counts.get(file) else {
                continue;
            };
            let pct = |n: usize| 100.0 * n as f64 / c.total().max(1) as f64;
            let _ = writeln!(
                out,
                "| {file} | {} | {} ({:.1} %) | {} | {} | {} | {} |",
                c.total(),
                c.equal + c.both_refuse,
                pct(c.equal + c.both_refuse),
                c.other_types,
                c.brook_error,
                c.both_refuse,
                c.wrong
            );
            all.equal += c.equal;
            all.other_types += c.other_types;
            all.brook_error += c.brook_error;
            all.both_refuse += c.both_refuse;
            all.wrong += c.wrong;
        }
        let pct = |n: usize| 100.0 * n as f64 / all.total().max(1) as f64;
        let _ = writeln!(
            out,
            "| all | {} | {} ({:.1} %) | {} | {} | {} | {} |",
            all.total(),
            all.equal + all.both_refuse,
            pct(all.equal + all.both_refuse),
            all.other_types,
            all.brook_error,
            all.both_refuse,
            all.wrong
        );
        let _ = writeln!(out, "\nErrors only on Brook, by cause:");
        let mut causes: Vec<_> = self.causes.iter().collect();
        causes.sort_by_key(|c| std::cmp::Reverse(c.1.0));
        for (cause, (n, example)) in causes.iter().take(30) {
            let example: String = example.chars().take(160).collect();
            let _ = writeln!(
                out,
                "- {n} × {cause} — e.g. `{}`",
                example.replace('\n', " ")
            );
        }
        let _ = writeln!(
            out,
            "\nSame values, other column types (PostgreSQL vs Brook OIDs):"
        );
        let mut types: Vec<_> = self.types.iter().collect();
        types.sort_by_key(|t| std::cmp::Reverse(t.1.0));
        for (pair, (n, example)) in types.iter().take(30) {
            let example: String = example.chars().take(160).collect();
            let _ = writeln!(
                out,
                "- {n} × {pair} — e.g. `{}`",
                example.replace('\n', " ")
            );
        }
        if !self.setup.is_empty() {
            let _ = writeln!(out, "\nStatements only PostgreSQL ran:");
            for (file, sql, error) in self.setup.iter().take(20) {
                let _ = writeln!(out, "- {file}: `{}` — {error}", sql.replace('\n', " "));
            }
        }
        if !self.wrong.is_empty() {
            let _ = writeln!(out, "\nWrong results:");
            for (file, sql, pg, brook) in self.wrong.iter().take(40) {
                let _ = writeln!(
                    out,
                    "- {file}: `{}`\n  PostgreSQL: {pg}\n  Brook:      {brook}",
                    sql.replace('\n', " ")
                );
            }
        }
        out
    }
}
