//! A seeded generator of queries over two small tables full of NULLs:
//! expressions and three-valued predicates, subqueries of every kind
//! (scalar, IN, EXISTS, correlated by equality and by inequality), set
//! operations with and without ALL, window functions, casts, joins and
//! aggregates. The same seed gives the same queries; PostgreSQL judges them.

use super::corpus::Record;

/// A small deterministic generator (xorshift64*): the harness must not
/// depend on a library's sequence staying the same across versions.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

const SETUP: &[&str] = &[
    "CREATE TABLE g1 (a INTEGER, b INTEGER, c DOUBLE PRECISION, s TEXT, p BOOLEAN)",
    "INSERT INTO g1 VALUES (1, 2, 1.5, 'a', true), (2, NULL, 2.25, 'b', false), \
     (3, 3, NULL, NULL, NULL), (NULL, 4, 0.5, 'ab', true), (5, 1, -3.75, 'ba', false), \
     (2, 2, 2.25, 'b', true), (7, NULL, 10.0, 'c', NULL), (NULL, NULL, NULL, NULL, NULL), \
     (9, 0, 4.5, 'a', false), (4, 8, -1.0, 'abc', true), (6, 6, 6.0, '', false), (8, 5, 1.25, 'B', true)",
    "CREATE TABLE g2 (x INTEGER, y INTEGER, s TEXT)",
    "INSERT INTO g2 VALUES (1, 10, 'a'), (2, 20, NULL), (2, 21, 'b'), (NULL, 30, 'c'), \
     (4, NULL, 'ab'), (6, 60, 'x'), (9, 90, NULL), (10, 100, 'a')",
];

fn value(r: &mut Rng) -> String {
    match r.below(6) {
        0 => "NULL".into(),
        1 => format!("-{}", r.below(5)),
        _ => r.below(10).to_string(),
    }
}

fn column(r: &mut Rng) -> String {
    r.pick(&["a", "b", "a", "b"]).to_string()
}

fn int_expr(r: &mut Rng, depth: usize) -> String {
    if depth == 0 || r.chance(35) {
        return if r.chance(70) { column(r) } else { value(r) };
    }
    let x = int_expr(r, depth - 1);
    let y = int_expr(r, depth - 1);
    match r.below(10) {
        0 => format!("({x} + {y})"),
        1 => format!("({x} - {y})"),
        2 => format!("({x} * {y})"),
        3 => format!("(-{x})"),
        4 => format!("abs({x})"),
        5 => format!("coalesce({x}, {y})"),
        6 => format!("nullif({x}, {y})"),
        7 => format!(
            "CASE WHEN {} THEN {x} ELSE {y} END",
            predicate(r, depth - 1)
        ),
        8 => format!("({x} / {})", 1 + r.below(4)),
        _ => format!("({x} % {})", 1 + r.below(4)),
    }
}

fn predicate(r: &mut Rng, depth: usize) -> String {
    let x = int_expr(r, depth.min(1));
    if depth == 0 || r.chance(40) {
        let y = int_expr(r, depth.min(1));
        return match r.below(12) {
            0 => format!("{x} = {y}"),
            1 => format!("{x} <> {y}"),
            2 => format!("{x} < {y}"),
            3 => format!("{x} >= {y}"),
            4 => format!("{x} IS NULL"),
            5 => format!("{x} IS NOT NULL"),
            6 => format!("{x} BETWEEN {} AND {}", value(r), value(r)),
            7 => format!("{x} NOT BETWEEN {} AND {}", value(r), value(r)),
            8 => format!("{x} IN ({}, {}, {})", value(r), value(r), value(r)),
            9 => format!("{x} NOT IN ({}, {})", value(r), value(r)),
            10 => format!("{x} IS DISTINCT FROM {y}"),
            _ => r
                .pick(&["p", "p IS TRUE", "p IS NOT FALSE", "NOT p", "p IS UNKNOWN"])
                .into(),
        };
    }
    let p = predicate(r, depth - 1);
    let q = predicate(r, depth - 1);
    match r.below(3) {
        0 => format!("({p} AND {q})"),
        1 => format!("({p} OR {q})"),
        _ => format!("(NOT {p})"),
    }
}

fn cmp(r: &mut Rng) -> &'static str {
    r.pick(&["=", "<", ">", "<=", ">=", "<>"])
}

fn query(r: &mut Rng) -> String {
    match r.below(12) {
        0 | 1 => format!(
            "SELECT {}, {} FROM g1 WHERE {}",
            int_expr(r, 2),
            int_expr(r, 2),
            predicate(r, 2)
        ),
        2 => format!(
            "SELECT a, (SELECT count(*) FROM g2 WHERE g2.x {} g1.{}) FROM g1",
            cmp(r),
            column(r)
        ),
        3 => format!(
            "SELECT a, (SELECT max(y) FROM g2 WHERE g2.x {} g1.a AND {}) AS m FROM g1",
            cmp(r),
            r.pick(&["y > 15", "s IS NOT NULL", "true", "y IS NULL"])
        ),
        4 => format!(
            "SELECT a, b FROM g1 WHERE {} {} (SELECT x FROM g2 WHERE {})",
            int_expr(r, 1),
            r.pick(&["IN", "NOT IN"]),
            r.pick(&["y > 15", "s IS NOT NULL", "true", "x IS NOT NULL", "y < 50"])
        ),
        5 => format!(
            "SELECT a, s FROM g1 WHERE {} (SELECT 1 FROM g2 WHERE g2.x {} g1.a{})",
            r.pick(&["EXISTS", "NOT EXISTS"]),
            cmp(r),
            r.pick(&["", " AND g2.s = g1.s", " AND y > 20"])
        ),
        6 => format!(
            "SELECT {} FROM g1 WHERE {} {} SELECT {} FROM g2 WHERE {}",
            r.pick(&["a", "b", "s"]),
            predicate(r, 1),
            r.pick(&[
                "UNION",
                "UNION ALL",
                "INTERSECT",
                "INTERSECT ALL",
                "EXCEPT",
                "EXCEPT ALL"
            ]),
            r.pick(&["x", "y", "x"]),
            r.pick(&["true", "y > 15", "x IS NULL", "s IS NOT NULL"])
        )
        .replace("SELECT s FROM g1", "SELECT length(s) FROM g1"),
        7 => format!(
            "SELECT a, b, {} OVER (PARTITION BY p ORDER BY {}) FROM g1",
            r.pick(&[
                "sum(b)",
                "count(*)",
                "rank()",
                "dense_rank()",
                "max(a)",
                "count(b)"
            ]),
            r.pick(&["a", "a DESC", "b", "a NULLS FIRST"])
        ),
        8 => format!(
            "SELECT {} FROM g1",
            r.pick(&[
                "CAST(c AS INTEGER)",
                "CAST(a AS TEXT)",
                "CAST(c AS NUMERIC(10,2))",
                "CAST(a AS DOUBLE PRECISION) / 4",
                "CAST(s AS VARCHAR(2))",
                "round(c)",
                "trunc(c)",
                "ceil(c)",
                "floor(c)",
                "c * 2",
                "a::bigint * 3",
                "upper(s) || '!'",
                "length(s)",
                "s LIKE 'a%'",
                "s ILIKE 'B%'",
                "substr(s, 2)",
            ])
        ),
        9 => format!(
            "SELECT g1.a, g2.y FROM g1 {} g2 ON g1.a = g2.x{}",
            r.pick(&["JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN"]),
            r.pick(&["", " AND g2.y > 15", " AND g1.p"])
        ),
        10 => format!(
            "SELECT p, count(*), count(a), sum(a), min(s), max(c){} FROM g1 GROUP BY p{}",
            r.pick(&["", ", sum(DISTINCT b)", ", count(DISTINCT s)"]),
            r.pick(&["", " HAVING count(*) > 2", " HAVING sum(a) IS NOT NULL"])
        ),
        _ => format!(
            "SELECT DISTINCT {} FROM g1 WHERE {}",
            int_expr(r, 1),
            predicate(r, 1)
        ),
    }
}

/// The setup statements and `n` queries for `seed`.
pub fn records(seed: u64, n: usize) -> Vec<Record> {
    let mut r = Rng(seed.max(1));
    let mut out: Vec<Record> = SETUP
        .iter()
        .map(|s| Record::Statement { sql: s.to_string() })
        .collect();
    out.extend((0..n).map(|_| Record::Query { sql: query(&mut r) }));
    out
}
