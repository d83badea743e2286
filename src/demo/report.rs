//! What the demo prints: a line per step as it runs, progress bars while
//! messages flow, and at the end the report — row counts, the model's
//! evaluation, each analyst query's answer as a table, and each step's time.

use std::time::Duration;

use comfy_table::{Cell, CellAlignment, Table};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use super::session::Answer;

/// psql's aligned format: `|` between columns, a `-+-` line under the header,
/// no outer border (a comfy-table preset string; spaces mean "not drawn").
const PSQL_STYLE: &str = "     -+ |          ";

/// An answer as psql prints it: numbers right-aligned, NULL blank, and the
/// row count underneath.
pub fn table(answer: &Answer) -> String {
    let rows = answer.rows.len();
    format!(
        "{}\n({rows} {})",
        grid(answer),
        if rows == 1 { "row" } else { "rows" }
    )
}

/// The aligned columns of [`table`], without the row count.
fn grid(answer: &Answer) -> String {
    let mut table = Table::new();
    table.load_preset(PSQL_STYLE);
    // Headers centred over their column, as psql prints them.
    table.set_header(
        answer
            .columns
            .iter()
            .map(|c| Cell::new(c).set_alignment(CellAlignment::Center)),
    );
    for row in &answer.rows {
        table.add_row(row.iter().map(|c| c.clone().unwrap_or_default()));
    }
    for (i, column) in table.column_iter_mut().enumerate() {
        let numeric = answer.rows.iter().all(|r| {
            r.get(i)
                .cloned()
                .flatten()
                .is_none_or(|c| c.parse::<f64>().is_ok())
        });
        if numeric && !answer.rows.is_empty() {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    // comfy-table pads the last column; psql does not.
    table
        .to_string()
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
}

/// A step and how long it took, for the closing table.
#[derive(Debug, Clone)]
pub struct Timing {
    pub step: String,
    pub took: Duration,
}

/// The closing table of step times, with the total.
pub fn timings(steps: &[Timing]) -> String {
    let total: Duration = steps.iter().map(|t| t.took).sum();
    let mut rows: Vec<Vec<Option<String>>> = steps
        .iter()
        .map(|t| vec![Some(t.step.clone()), Some(seconds(t.took))])
        .collect();
    rows.push(vec![Some("total".into()), Some(seconds(total))]);
    grid(&Answer {
        columns: vec!["step".into(), "seconds".into()],
        rows,
    })
}

pub fn seconds(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64())
}

/// `8378` → `8,378`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A progress bar of messages on stderr (drawn only on a terminal, so logs
/// and CI output stay clean).
pub fn progress(what: &str, total: u64) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "      {prefix:<22} [{bar:30}] {human_pos:>6}/{human_len} messages  {rate:>16}  {elapsed}",
    )
    .map(|s| {
        s.progress_chars("=> ").with_key(
            "rate",
            |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{} msg/s", thousands(state.per_sec().round() as u64));
            },
        )
    })
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix(what.to_string());
    bar
}

/// A section heading of the report.
pub fn heading(title: &str) -> String {
    format!("\n{title}\n{}", "=".repeat(title.chars().count()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_look_like_psql() {
        let answer = Answer {
            columns: vec!["name".into(), "n".into()],
            rows: vec![
                vec![Some("a".into()), Some("10".into())],
                vec![Some("bb".into()), None],
            ],
        };
        let lines: Vec<String> = table(&answer)
            .lines()
            .map(|l| l.trim_end().to_string())
            .collect();
        assert_eq!(
            lines,
            vec![
                " name |  n".to_string(),
                "------+----".to_string(),
                " a    | 10".to_string(),
                " bb   |".to_string(),
                "(2 rows)".to_string(),
            ]
        );
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(8378), "8,378");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
