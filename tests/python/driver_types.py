"""Every type an application sends and reads through psycopg2 and psycopg 3,
as parameters and as results, against the server at the given address.
The same checks run against PostgreSQL 15 (where all pass) and Brook.

Prints one line per check: `pass <driver>:<check>`; `error <driver>:<check>:
<message>` when the server refused; `type <driver>:<check>: <detail>` when
the value came back under another type (a float for a Decimal, a str of
the JSON for a dict, a naive datetime for an aware one, another type OID);
or `wrong <driver>:<check>: <detail>` when it came back as another value —
which Brook must never do. Usage: driver_types.py HOST PORT USER DBNAME"""

import json

import datetime as dt
import decimal
import sys
import uuid

import psycopg
import psycopg2
import psycopg2.extras
from psycopg.types.json import Json as Json3, Jsonb as Jsonb3

host, port, user, dbname = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
psycopg2.extras.register_uuid()

UTC = dt.timezone.utc


class Wrong(Exception):
    pass


class OtherType(Exception):
    pass


def same_value(got, want):
    """Whether `got` is `want` under another type."""
    if isinstance(want, (dict, list)) and isinstance(got, str):
        try:
            return json.loads(got) == want
        except ValueError:
            return False
    if isinstance(want, dt.datetime) and isinstance(got, dt.datetime):
        return got.replace(tzinfo=None) == want.astimezone(UTC).replace(tzinfo=None)
    return got == want


def expect(got, want):
    if got == want and type(got) is type(want):
        return
    detail = f"got {got!r} ({type(got).__name__}), want {want!r} ({type(want).__name__})"
    raise (OtherType if same_value(got, want) else Wrong)(detail)


class Driver:
    """What differs between the two drivers: connecting, JSON wrappers,
    bytea results."""

    def __init__(self, name):
        self.name = name

    def connect(self):
        if self.name == "psycopg2":
            conn = psycopg2.connect(host=host, port=port, user=user, dbname=dbname)
            conn.autocommit = True
            return conn
        return psycopg.connect(host=host, port=port, user=user, dbname=dbname, autocommit=True)

    def one(self, conn, sql, params=None):
        cur = conn.cursor()
        cur.execute(sql, params)
        row = cur.fetchone()
        oid = cur.description[0][1] if self.name == "psycopg2" else cur.description[0].type_code
        cur.close()
        return row[0], oid

    def json(self, value):
        return psycopg2.extras.Json(value) if self.name == "psycopg2" else Json3(value)

    def jsonb(self, value):
        return psycopg2.extras.Json(value) if self.name == "psycopg2" else Jsonb3(value)

    def errors(self):
        return psycopg2.Error if self.name == "psycopg2" else psycopg.Error


def value(sql, params, want, oid):
    def check(d, conn):
        got, got_oid = d.one(conn, sql, params)
        expect(got, want)
        if got_oid != oid:
            raise OtherType(f"type oid {got_oid}, want {oid}")
    return check


def table(columns, row, wrap=None):
    def check(d, conn):
        sent = tuple(getattr(d, wrap)(v) for v in row) if wrap else row
        cur = conn.cursor()
        name = f"dt_{d.name}_{abs(hash(columns)) % 100000}"
        cur.execute(f"DROP TABLE IF EXISTS {name}")
        cur.execute(f"CREATE TABLE {name} (id int, {columns})")
        marks = ", ".join(["%s"] * (len(row) + 1))
        cur.execute(f"INSERT INTO {name} VALUES ({marks})", (1,) + sent)
        cur.execute(f"SELECT * FROM {name} WHERE id = %s", (1,))
        got = tuple(cur.fetchone()[1:])
        cur.execute(f"DROP TABLE {name}")
        cur.close()
        for g, w in zip(got, row):
            if isinstance(g, memoryview):
                g = bytes(g)
            expect(g, w)
    return check


def bytea(d, conn):
    got, oid = d.one(conn, "SELECT %s::bytea", (b"\x00\xff\\x",))
    if isinstance(got, memoryview):  # psycopg2's bytea
        got = bytes(got)
    expect(got, b"\x00\xff\\x")
    if oid != 17:
        raise OtherType(f"type oid {oid}")


def json_value(kind):
    def check(d, conn):
        wrap = d.json if kind == "json" else d.jsonb
        got, oid = d.one(conn, f"SELECT %s::{kind}", (wrap({"a": [1, 2.5, None], "b": "ü"}),))
        expect(got, {"a": [1, 2.5, None], "b": "ü"})
        if oid != (114 if kind == "json" else 3802):
            raise OtherType(f"type oid {oid}")
    return check


def uuid_binary(d, conn):
    """A uuid sent and read in binary (psycopg 3's %b; psycopg2 has text only)."""
    mark = "%b" if d.name == "psycopg" else "%s"
    cur = conn.cursor(binary=True) if d.name == "psycopg" else conn.cursor()
    cur.execute(f"SELECT {mark}::uuid", (U,))
    got = cur.fetchone()[0]
    cur.close()
    expect(got, U)


def uuid_refused(d, conn):
    """Text that is no uuid is refused with 22P02, as PostgreSQL does."""
    cur = conn.cursor()
    try:
        cur.execute("SELECT %s::uuid", ("12345678-nope",))
    except d.errors() as e:
        code = getattr(e, "pgcode", None) or getattr(getattr(e, "diag", None), "sqlstate", None)
        expect(code, "22P02")
    else:
        raise Wrong("no error for a text that is no uuid")
    finally:
        cur.close()


def jsonb_text(d, conn):
    """jsonb prints as PostgreSQL normalises it: keys once and ordered, numbers as numeric."""
    got, oid = d.one(conn, "SELECT %s::jsonb::text", ('{"b":1, "a":[1.50, 1e2], "b":2}',))
    expect(got, '{"a": [1.50, 100], "b": 2}')
    if oid != 25:
        raise OtherType(f"type oid {oid}")


def timestamptz_in_session_zone(d, conn):
    cur = conn.cursor()
    cur.execute("SET TIME ZONE 'America/New_York'")
    cur.execute("SELECT '2024-01-01 12:00:00+00'::timestamptz, "
                "CAST('2024-01-01 12:00:00+00'::timestamptz AS text)")
    got = cur.fetchone()
    cur.execute("SET TIME ZONE 'UTC'")
    cur.close()
    expect(got[0].astimezone(UTC), dt.datetime(2024, 1, 1, 12, tzinfo=UTC))
    expect(got[1], "2024-01-01 07:00:00-05")


def rollback(d, conn):
    cur = conn.cursor()
    cur.execute(f"DROP TABLE IF EXISTS rb_{d.name}")
    cur.execute(f"CREATE TABLE rb_{d.name} (x int)")
    conn.autocommit = False
    cur.execute(f"INSERT INTO rb_{d.name} VALUES (%s)", (1,))
    conn.rollback()
    conn.autocommit = True
    cur.execute(f"SELECT count(*) FROM rb_{d.name}")
    got = cur.fetchone()[0]
    cur.execute(f"DROP TABLE rb_{d.name}")
    cur.close()
    expect(got, 0)


def error_then_usable(d, conn):
    cur = conn.cursor()
    try:
        cur.execute("SELECT * FROM no_such_table_here")
    except d.errors() as e:
        if getattr(e, "pgcode", None) or getattr(getattr(e, "diag", None), "sqlstate", None):
            pass
    else:
        raise Wrong("no error for an unknown table")
    cur.execute("SELECT %s::int", (7,))
    expect(cur.fetchone()[0], 7)
    cur.close()


def many(d, conn):
    cur = conn.cursor()
    cur.execute(f"DROP TABLE IF EXISTS many_{d.name}")
    cur.execute(f"CREATE TABLE many_{d.name} (a int, b text)")
    cur.executemany(f"INSERT INTO many_{d.name} VALUES (%s, %s)", [(i, f"r{i}") for i in range(50)])
    cur.execute(f"SELECT sum(a), count(b) FROM many_{d.name}")
    got = cur.fetchone()
    cur.execute(f"DROP TABLE many_{d.name}")
    cur.close()
    expect(tuple(got), (1225, 50))


U = uuid.UUID("12345678-1234-5678-1234-567812345678")
CHECKS = [
    ("int4_result", value("SELECT 1 + 1", None, 2, 23)),
    ("int8_param", value("SELECT %s::bigint", (9223372036854775807,), 9223372036854775807, 20)),
    ("int_param_arithmetic", value("SELECT %s::int * 2", (21,), 42, 23)),
    ("numeric_param", value("SELECT %s::numeric(38,10)", (decimal.Decimal("-0.0000000001"),),
                            decimal.Decimal("-0.0000000001"), 1700)),
    ("numeric_result", value("SELECT 1.50::numeric(10,2)", None, decimal.Decimal("1.50"), 1700)),
    ("numeric_division", value("SELECT 1 / 4.0", None, decimal.Decimal("0.25000000000000000000"), 1700)),
    ("float8", value("SELECT %s::float8 * 2", (1.25,), 2.5, 701)),
    ("bool", value("SELECT %s::boolean", (True,), True, 16)),
    ("text", value("SELECT %s::text", ("héllo ✓ 'quoted'",), "héllo ✓ 'quoted'", 25)),
    ("varchar", value("SELECT %s::varchar(10)", ("abc",), "abc", 1043)),
    ("date", value("SELECT %s::date", (dt.date(2024, 2, 29),), dt.date(2024, 2, 29), 1082)),
    ("timestamp", value("SELECT %s::timestamp", (dt.datetime(2024, 2, 29, 13, 45, 30, 123456),),
                        dt.datetime(2024, 2, 29, 13, 45, 30, 123456), 1114)),
    ("timestamptz_param", value("SELECT %s::timestamptz",
                                (dt.datetime(2024, 2, 29, 13, 45, 30, tzinfo=UTC),),
                                dt.datetime(2024, 2, 29, 13, 45, 30, tzinfo=UTC), 1184)),
    ("timestamptz_session_zone", timestamptz_in_session_zone),
    ("interval", value("SELECT %s::interval", (dt.timedelta(days=1, seconds=3600),),
                       dt.timedelta(days=1, seconds=3600), 1186)),
    ("uuid_param", value("SELECT %s::uuid", (U,), U, 2950)),
    ("uuid_table", table("u uuid", (U,))),
    ("uuid_binary", uuid_binary),
    ("uuid_refused", uuid_refused),
    ("jsonb_text", jsonb_text),
    ("json_param", json_value("json")),
    ("jsonb_param", json_value("jsonb")),
    ("jsonb_table", table("j jsonb", ({"k": [1, 2]},), wrap="jsonb")),
    ("bytea_param", bytea),
    ("bytea_table", table("b bytea", (b"\x00\x01\xfe\xff",))),
    ("int_array", value("SELECT %s::int[]", ([1, 2, 3],), [1, 2, 3], 1007)),
    ("text_array", value("SELECT %s::text[]", (["a", "b c", "ü"],), ["a", "b c", "ü"], 1009)),
    ("null_param", value("SELECT %s::int", (None,), None, 23)),
    ("executemany", many),
    ("rollback", rollback),
    ("error_then_usable", error_then_usable),
]


def main():
    for name in ("psycopg2", "psycopg"):
        d = Driver(name)
        for check_name, check in CHECKS:
            step = f"{name}:{check_name}"
            try:
                conn = d.connect()
            except Exception as e:  # noqa: BLE001
                print(f"error {step}: connect: {e}".replace("\n", " "), flush=True)
                continue
            try:
                check(d, conn)
                print(f"pass {step}", flush=True)
            except Wrong as e:
                print(f"wrong {step}: {e}".replace("\n", " "), flush=True)
            except OtherType as e:
                print(f"type {step}: {e}".replace("\n", " "), flush=True)
            except (psycopg.Error, psycopg2.Error) as e:
                print(f"error {step}: {e}".replace("\n", " "), flush=True)
            finally:
                try:
                    conn.close()
                except Exception:  # noqa: BLE001
                    pass


main()
