"""psycopg 3 against a live Brook, beyond parameters and COPY FROM (which
tests/it/clients.rs covers): binary results, server-side parameter binding
of every type, a server-side (named) cursor, COPY TO STDOUT in text, CSV and
binary, DEALLOCATE after DDL, and an error that leaves the session usable.
Prints `ok <step>`; the first mismatch raises."""

import datetime as dt
import decimal
import sys

import psycopg

url = sys.argv[1]


def ok(step):
    print("ok", step, flush=True)


with psycopg.connect(url, autocommit=True) as conn:
    conn.execute(
        "CREATE TABLE kinds (id bigint NOT NULL, flag boolean, small smallint, "
        "ratio real, score double precision, price numeric(10,2), name text, "
        "born date, seen timestamp, blob bytea)")
    row = (1, True, -3, 0.5, 2.25, decimal.Decimal("12.34"), "ada ✓",
           dt.date(1815, 12, 10), dt.datetime(2024, 2, 29, 13, 45, 30, 123456),
           b"\x00\xfe")
    conn.execute("INSERT INTO kinds VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", row)
    conn.execute("INSERT INTO kinds (id) VALUES (%s)", (2,))
    for binary in (False, True):
        with conn.cursor(binary=binary) as cur:
            cur.execute("SELECT * FROM kinds WHERE id = %s", (1,))
            got = cur.fetchone()
            assert got == row, (binary, got)
            cur.execute("SELECT * FROM kinds WHERE id = %s", (2,))
            assert cur.fetchone()[1:] == (None,) * 9
    ok("binary_and_text_results")

    conn.execute("INSERT INTO kinds (id, name) SELECT v, 'row ' || v FROM unnest(range(10, 1010)) AS t(v)")
    with conn.transaction():
        with conn.cursor(name="walk") as cur:
            cur.itersize = 100
            cur.execute("SELECT id FROM kinds WHERE id >= 10 ORDER BY id")
            seen = [r[0] for r in cur]
    assert seen == list(range(10, 1010)), (len(seen), seen[:3], seen[-3:])
    ok("server_side_cursor")

    with conn.cursor() as cur:
        with cur.copy("COPY (SELECT id, name, born FROM kinds WHERE id <= 2 ORDER BY id) TO STDOUT") as copy:
            text = b"".join(bytes(block) for block in copy)
        assert text == b"1\tada \xe2\x9c\x93\t1815-12-10\n2\t\\N\t\\N\n", text
        with cur.copy("COPY kinds (id, name) TO STDOUT (FORMAT csv, HEADER)") as copy:
            lines = b"".join(bytes(block) for block in copy).decode().splitlines()
        assert lines[0] == "id,name" and len(lines) == 1003, lines[:3]
        assert '1,ada ✓' in lines
        with cur.copy("COPY (SELECT id, score, seen FROM kinds WHERE id = 1) TO STDOUT (FORMAT binary)") as copy:
            copy.set_types(["int8", "float8", "timestamp"])
            assert list(copy.rows()) == [(1, 2.25, row[8])]
    ok("copy_out")

    # psycopg prepares a query after five runs and sends DEALLOCATE ALL after DDL.
    for _ in range(6):
        conn.execute("SELECT count(*) FROM kinds WHERE id > %s", (0,)).fetchone()
    conn.execute("DROP TABLE IF EXISTS scratch")
    assert conn.execute("SELECT count(*) FROM kinds WHERE id > %s", (0,)).fetchone()[0] == 1002
    ok("deallocate")

    try:
        conn.execute("SELECT nothing FROM kinds")
        raise AssertionError("a bad column must fail")
    except psycopg.errors.UndefinedColumn as e:
        assert e.sqlstate == "42703", e.sqlstate
    try:
        conn.execute("COPY kinds TO '/tmp/brook-copy-to-file.csv'")
        raise AssertionError("COPY to a file outside the directories open to SQL must be refused")
    except psycopg.errors.InsufficientPrivilege as e:
        assert "server_file_dirs" in str(e), str(e)
    assert conn.execute("SELECT 1").fetchone() == (1,)
    ok("errors")
