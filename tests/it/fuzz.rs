//! The randomized driver over TCP (issue #7): statements mutated from the
//! sqllogictest corpus, and malformed protocol frames, sent to a live server.
//! Every statement must come back as a result or an SQL error on a live
//! connection; after each batch a fresh session must answer `SELECT 1`; the
//! server log must hold no panic.
//!
//! CI runs 5,000 statements and 2,000 frames; `bench/fuzz/run.sh` runs
//! 100,000 of each (`FUZZ_STATEMENTS`, `FUZZ_FRAMES`, `FUZZ_SEED`).

use std::io::Write;
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::bad_input::{read_until_ready, startup_message};
use crate::support::{Brook, count, setting};

/// The SQL of every `statement` and `query` record of `sql/slt/*.slt`,
/// without pipelines (a mutated broker address would wait on the network)
/// and COPY.
fn corpus() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sql/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("sql/slt")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "slt"))
        .collect();
    files.sort();
    let mut statements = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("slt file");
        let mut lines = text.lines();
        while let Some(line) = lines.next() {
            if !(line.starts_with("statement") || line.starts_with("query")) {
                continue;
            }
            let sql: Vec<&str> = lines
                .by_ref()
                .take_while(|l| !l.trim().is_empty() && *l != "----")
                .collect();
            let sql = sql.join("\n");
            let upper = sql.to_uppercase();
            // COPY would switch the session into copy mode, which a mutant
            // cannot finish; the timeout stays as the fuzz session set it.
            let skip = ["PIPELINE", "KAFKA", "COPY", "STATEMENT_TIMEOUT"];
            if !sql.is_empty() && !skip.iter().any(|w| upper.contains(w)) {
                statements.push(sql);
            }
        }
    }
    statements
}

/// Split into rough tokens (words, quoted strings, single symbols).
fn tokens(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in sql.chars() {
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            if !c.is_whitespace() {
                out.push(c.to_string());
            }
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

const NOISE: [&str; 24] = [
    "(", ")", ",", ";", "'", "\"", "::", "NULL", "SELECT", "FROM", "WHERE", "CAST", "AS", "text",
    "bigint", "JOIN", "ON", "GROUP BY", "ORDER BY", "$1", "-", "*", "/*", "E'\\",
];

/// One mutation of a corpus statement: delete, duplicate, swap, insert noise
/// or a word from elsewhere, truncate, or inject raw characters.
fn mutate(rng: &mut StdRng, sql: &str, vocabulary: &[String]) -> String {
    let mut t = tokens(sql);
    for _ in 0..rng.gen_range(1..4) {
        if t.is_empty() {
            t.push(NOISE[rng.gen_range(0..NOISE.len())].to_string());
        }
        let at = rng.gen_range(0..t.len());
        match rng.gen_range(0..7) {
            0 => {
                t.remove(at);
            }
            1 => {
                let copy = t[at].clone();
                t.insert(at, copy);
            }
            2 => {
                let other = rng.gen_range(0..t.len());
                t.swap(at, other);
            }
            3 => t.insert(at, NOISE[rng.gen_range(0..NOISE.len())].to_string()),
            4 => t.insert(at, vocabulary[rng.gen_range(0..vocabulary.len())].clone()),
            5 => t.truncate(at),
            _ => {
                let c = char::from_u32(rng.gen_range(1..0x3000)).unwrap_or('?');
                t.insert(at, c.to_string());
            }
        }
    }
    t.join(" ")
}

/// A protocol frame that is wrong in some way: an unexpected type, a length
/// that lies (short, negative, huge), or random contents.
fn frame(rng: &mut StdRng) -> Vec<u8> {
    let kind = *b"QPBEDSCHXdcfFp!\0"
        .get(rng.gen_range(0..16))
        .unwrap_or(&b'Q');
    let body: Vec<u8> = (0..rng.gen_range(0..64)).map(|_| rng.r#gen()).collect();
    let length: i32 = match rng.gen_range(0..5) {
        0 => rng.gen_range(-10..4),
        1 => i32::MAX,
        2 => body.len() as i32 + 4 + rng.gen_range(1..100),
        _ => body.len() as i32 + 4,
    };
    let mut out = vec![kind];
    out.extend_from_slice(&length.to_be_bytes());
    out.extend(body);
    out
}

async fn answers_select_1(brook: &Brook) {
    let client = brook.client().await;
    assert_eq!(
        count(&client, "SELECT 1::bigint").await,
        1,
        "log: {}",
        brook.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_statements_and_malformed_frames_never_break_the_server() {
    let statements = setting("FUZZ_STATEMENTS", 5_000);
    let frames = setting("FUZZ_FRAMES", 2_000);
    let seed = setting("FUZZ_SEED", 11);
    let mut rng = StdRng::seed_from_u64(seed);
    let corpus = corpus();
    assert!(corpus.len() > 100, "corpus of {} statements", corpus.len());
    let vocabulary: Vec<String> = corpus.iter().flat_map(|s| tokens(s)).collect();

    let brook = Brook::start();
    let connect = || async {
        let client = brook.client().await;
        client
            .batch_execute("SET statement_timeout = '2s'")
            .await
            .expect("set timeout");
        client
    };
    let mut client = connect().await;
    // The corpus as written first: it creates the tables the mutants touch.
    for sql in &corpus {
        let _ = client.simple_query(sql).await;
    }
    let (mut errors, mut reconnects) = (0u64, 0u64);
    for i in 0..statements {
        let seed_statement = &corpus[rng.gen_range(0..corpus.len())];
        let sql = mutate(&mut rng, seed_statement, &vocabulary);
        if let Err(e) = client.simple_query(&sql).await {
            errors += 1;
            // An SQL error keeps the session; anything else lost it.
            if e.as_db_error().is_none() {
                assert!(
                    !client.is_closed(),
                    "statement {i} closed the session: {sql:?}: {e}; log: {}",
                    brook.log()
                );
                reconnects += 1;
                client = connect().await;
            }
        }
        if i % 1000 == 999 {
            answers_select_1(&brook).await;
        }
    }
    answers_select_1(&brook).await;

    for i in 0..frames {
        let mut s = TcpStream::connect(("127.0.0.1", brook.port)).expect("connect");
        if rng.gen_bool(0.8) {
            s.write_all(&startup_message()).expect("startup");
            read_until_ready(&mut s);
        }
        for _ in 0..rng.gen_range(1..4) {
            if s.write_all(&frame(&mut rng)).is_err() {
                break;
            }
        }
        drop(s);
        if i % 500 == 499 {
            answers_select_1(&brook).await;
        }
    }
    // Sessions cut off mid-frame are gone, not stuck holding resources.
    tokio::time::sleep(Duration::from_millis(500)).await;
    answers_select_1(&brook).await;
    let log = brook.log();
    assert!(!log.contains("panicked"), "a panic: {log}");
    println!(
        "fuzz: {statements} mutated statements ({errors} SQL errors, {reconnects} lost sessions), \
         {frames} malformed frames, 0 panics, SELECT 1 answered after every batch; seed {seed}"
    );
}
