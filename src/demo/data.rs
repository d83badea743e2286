//! The Speed Dating data set as the demo producer sends it: one CSV row → one
//! JSON message, waves 1–14 to `training` and 15–21 to `classify`.
//!
//! The file ships inside the binary (gzip, 280 kB) so that `brook demo` works
//! from any directory of a fresh machine. It is kept exactly as published, so
//! the conversion deals with what a real export holds: CRLF line ends (the
//! `csv` crate's reader takes both), a trailing row of empty cells, blank cells
//! (a missing value: the key is left out and the column takes its default),
//! numbers quoted with thousands separators (`"69,487.00"` → `69487.00`),
//! and UTF-8 text.

use std::io::Read;

use serde_json::{Map, Number, Value};
use thiserror::Error;

/// The published CSV, compressed.
const SPEED_DATING_CSV_GZ: &[u8] = include_bytes!("../../data/speed_dating.csv.gz");

/// The last wave whose pairs train the model; later waves are scored.
pub const LAST_TRAINING_WAVE: i64 = 14;

/// The topic of the labelled pairs that teach the model.
pub const TRAINING_TOPIC: &str = "training";
/// The topic of the later pairs that are scored while they are ingested.
pub const CLASSIFY_TOPIC: &str = "classify";

#[derive(Debug, Error)]
pub enum DataError {
    #[error("reading the speed-dating data: {0}")]
    Read(#[from] std::io::Error),
    #[error("the speed-dating data, line {line}: {reason}")]
    Csv { line: u64, reason: String },
    #[error("the speed-dating data has no `wave` column")]
    NoWave,
}

/// One row ready to send: its topic, its key (the subject, `iid`, so that a
/// person's encounters stay in order on one partition) and the JSON payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub topic: &'static str,
    pub key: String,
    pub payload: Vec<u8>,
}

/// The data set as messages, and what was left out and why.
#[derive(Debug, Default)]
pub struct DataSet {
    pub messages: Vec<Message>,
    /// Rows whose cells are all empty (the published file ends with one).
    pub empty_rows: usize,
}

impl DataSet {
    pub fn count(&self, topic: &str) -> usize {
        self.messages.iter().filter(|m| m.topic == topic).count()
    }
}

/// The shipped data set, split by wave.
pub fn speed_dating() -> Result<DataSet, DataError> {
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(SPEED_DATING_CSV_GZ).read_to_end(&mut text)?;
    from_csv(&text)
}

/// Convert CSV text (header first) into messages.
pub fn from_csv(text: &[u8]) -> Result<DataSet, DataError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(text);
    let csv_error = |e: csv::Error| DataError::Csv {
        line: e.position().map_or(0, |p| p.line()),
        reason: e.to_string(),
    };
    let header: Vec<String> = reader
        .headers()
        .map_err(csv_error)?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let wave = header
        .iter()
        .position(|h| h == "wave")
        .ok_or(DataError::NoWave)?;
    let iid = header.iter().position(|h| h == "iid");
    let mut set = DataSet::default();
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        if record.iter().all(|cell| cell.trim().is_empty()) {
            set.empty_rows += 1;
            continue;
        }
        let line = record.position().map_or(0, |p| p.line());
        let topic = match cell_value(record.get(wave).unwrap_or("")) {
            Some(Value::Number(n)) if n.as_i64().is_some_and(|w| w <= LAST_TRAINING_WAVE) => {
                TRAINING_TOPIC
            }
            Some(Value::Number(_)) => CLASSIFY_TOPIC,
            _ => {
                return Err(DataError::Csv {
                    line,
                    reason: "the row has no wave number".into(),
                });
            }
        };
        let mut object = Map::new();
        for (name, cell) in header.iter().zip(record.iter()) {
            if let Some(value) = cell_value(cell) {
                object.insert(name.clone(), value);
            }
        }
        let key = iid
            .and_then(|i| record.get(i))
            .unwrap_or("")
            .trim()
            .to_string();
        set.messages.push(Message {
            topic,
            key,
            payload: Value::Object(object).to_string().into_bytes(),
        });
    }
    Ok(set)
}

/// A cell as a JSON value: blank → `None` (the field is left out), a number
/// (also one written with thousands separators) → a JSON number as written,
/// anything else → a string.
pub fn cell_value(cell: &str) -> Option<Value> {
    let cell = cell.trim();
    if cell.is_empty() {
        return None;
    }
    let plain = without_thousands_separators(cell);
    let number = plain.as_deref().unwrap_or(cell);
    if let Some(n) = json_number(number) {
        return Some(Value::Number(n));
    }
    Some(Value::String(cell.to_string()))
}

/// `"69,487.00"` → `"69487.00"`; `None` unless commas separate groups of
/// exactly three digits (so `"Chicago, IL"` and `"1,2"` stay text).
fn without_thousands_separators(cell: &str) -> Option<String> {
    if !cell.contains(',') {
        return None;
    }
    let unsigned = cell.strip_prefix(['-', '+']).unwrap_or(cell);
    let integer = unsigned.split('.').next().unwrap_or("");
    let mut groups = integer.split(',');
    let first = groups.next().unwrap_or("");
    let digits = |g: &str| g.bytes().all(|b| b.is_ascii_digit());
    let grouped = (1..=3).contains(&first.len())
        && digits(first)
        && groups.all(|g| g.len() == 3 && digits(g));
    grouped.then(|| cell.replace(',', ""))
}

/// A JSON number keeping the digits as written (`7` stays an integer, `6.5`
/// a decimal), or `None` when the text is not a finite number.
fn json_number(text: &str) -> Option<Number> {
    let text = text.strip_prefix('+').unwrap_or(text);
    let is_numeric = text
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'.' | b'e' | b'E'))
        && text.bytes().any(|b| b.is_ascii_digit());
    if !is_numeric {
        return None;
    }
    if let Ok(i) = text.parse::<i64>() {
        return Some(Number::from(i));
    }
    text.parse::<f64>().ok().and_then(Number::from_f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(m: &Message) -> Value {
        serde_json::from_slice(&m.payload).unwrap()
    }

    #[test]
    fn cells_become_numbers_text_or_nothing() {
        assert_eq!(cell_value(""), None);
        assert_eq!(cell_value("  "), None);
        assert_eq!(cell_value("7"), Some(Value::from(7)));
        assert_eq!(cell_value("6.5"), Some(Value::from(6.5)));
        assert_eq!(cell_value("-0.32"), Some(Value::from(-0.32)));
        assert_eq!(cell_value("69,487.00"), Some(Value::from(69487.0)));
        assert_eq!(cell_value("60,521"), Some(Value::from(60521)));
        assert_eq!(cell_value("1,234,567"), Some(Value::from(1234567)));
        assert_eq!(cell_value("Chicago, IL"), Some(Value::from("Chicago, IL")));
        assert_eq!(cell_value("1,2"), Some(Value::from("1,2")));
        assert_eq!(cell_value("12,34,567"), Some(Value::from("12,34,567")));
        assert_eq!(cell_value("Zürich"), Some(Value::from("Zürich")));
        assert_eq!(cell_value("e"), Some(Value::from("e")));
        assert_eq!(cell_value("NaN"), Some(Value::from("NaN")));
    }

    #[test]
    fn crlf_blank_cells_quotes_and_the_trailing_empty_row() {
        let csv = "iid,wave,income,from,attr\r\n\
                   1,3,\"69,487.00\",\"Chicago, IL\",6.5\r\n\
                   2,15,,Zürich,\r\n\
                   ,,,,\r\n";
        let set = from_csv(csv.as_bytes()).unwrap();
        assert_eq!(set.empty_rows, 1);
        assert_eq!(set.messages.len(), 2);
        assert_eq!(set.messages[0].topic, TRAINING_TOPIC);
        assert_eq!(set.messages[0].key, "1");
        assert_eq!(
            payload(&set.messages[0]),
            serde_json::json!({"iid": 1, "wave": 3, "income": 69487.0, "from": "Chicago, IL", "attr": 6.5})
        );
        assert_eq!(set.messages[1].topic, CLASSIFY_TOPIC);
        assert_eq!(
            payload(&set.messages[1]),
            serde_json::json!({"iid": 2, "wave": 15, "from": "Zürich"})
        );
    }

    #[test]
    fn a_row_without_a_wave_or_with_the_wrong_width_is_an_error() {
        let err = from_csv(b"iid,wave\n1,\n").unwrap_err().to_string();
        assert!(err.contains("no wave number"), "{err}");
        let err = from_csv(b"iid,wave\n1,2,3\n").unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn the_shipped_file_splits_at_wave_14() {
        let set = speed_dating().unwrap();
        assert_eq!(set.empty_rows, 1);
        assert_eq!(set.count(TRAINING_TOPIC), 5744);
        assert_eq!(set.count(CLASSIFY_TOPIC), 2634);
        let first = payload(&set.messages[0]);
        assert_eq!(first["income"], Value::from(69487.0));
        assert_eq!(first["zipcode"], Value::from(60521));
        assert_eq!(first["field"], Value::from("Law"));
        assert!(first.get("undergra").is_none(), "a blank cell is left out");
    }
}
