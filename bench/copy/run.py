#!/usr/bin/env python3
"""bench/copy: COPY of 1 M rows into a table with a PRIMARY KEY vs the same
COPY into the same table without one, Brook and PostgreSQL 15, same run.

Issue #22's goal: key checks must not make a keyed COPY cost more than 1.5x
the unkeyed one. Each server gets two tables of the same columns, `plain`
and `keyed` (PRIMARY KEY (id)), and two COPYs into each, timed separately
through psql's \\copy (CSV from the client, as users load files):

  1. 1 M rows into the empty table (the keys are checked within the data);
  2. 1 M more rows, new keys, into the table that now holds 1 M (the keys are
     checked within the data and against the stored rows).

The ids are shuffled, so no file or row group holds a contiguous range of
them: Parquet statistics help the key check no more than real data would.
After each COPY the rows are counted; a lost or duplicated row stops the run.

    python3 bench/copy/run.py                # 1,000,000 rows per COPY
    python3 bench/copy/run.py --rows 200000  # a quicker look
"""
import argparse, os, random, shutil, subprocess, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ports import free_port, wait_port  # noqa: E402
from postgres import psql, start_postgres  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
COLUMNS = "(id bigint NOT NULL{key}, name text, score double precision, day date)"


def write_csv(path, ids):
    with open(path, "w") as f:
        for i in ids:
            f.write(f"{i},name {i % 9973},{(i * 7919) % 100003 / 7.0},2026-{1 + i % 12:02d}-{1 + i % 28:02d}\n")


def measure(port, user, files, rows):
    """Seconds of each COPY into `plain` and `keyed`: {(table, step): s}."""
    times = {}
    for table, key in (("plain", ""), ("keyed", " PRIMARY KEY")):
        psql(port, user, "-c", f"DROP TABLE IF EXISTS {table}", "-c", f"CREATE TABLE {table} {COLUMNS.format(key=key)}")
        for step, path in enumerate(files, start=1):
            started = time.perf_counter()
            psql(port, user, "-c", f"\\copy {table} FROM '{path}' WITH (FORMAT csv)")
            times[(table, step)] = time.perf_counter() - started
            stored = int(psql(port, user, "-c", f"SELECT count(*) FROM {table}"))
            if stored != rows * step:
                sys.exit(f"{table}: {rows * step} rows copied, {stored} stored")
            print(f"  {table} COPY {step}: {times[(table, step)]:.2f} s", flush=True)
    return times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--brook", help="a release binary to measure (default: build this tree)")
    args = ap.parse_args()
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    if not args.brook:
        subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "brook"], cwd=ROOT, check=True)
    brook_bin = args.brook or str(target / "release" / "brook")

    work = Path(tempfile.mkdtemp(prefix="brook-copy-"))
    os.chmod(work, 0o777)
    procs = []
    try:
        ids = list(range(1, 2 * args.rows + 1))
        random.Random(22).shuffle(ids)
        files = [work / "first.csv", work / "second.csv"]
        write_csv(files[0], ids[: args.rows])
        write_csv(files[1], ids[args.rows:])
        for f in files:
            os.chmod(f, 0o644)
        print(f"machine: {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}; {args.rows:,} rows per COPY", flush=True)
        results = []

        pg, pg_port = start_postgres(work)
        procs.append(pg)
        print("PostgreSQL 15:", flush=True)
        results.append(("PostgreSQL 15", measure(pg_port, "postgres", files, args.rows)))
        pg.terminate()
        pg.wait(timeout=60)

        port = free_port()
        brook = subprocess.Popen([brook_bin, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(work / "brook")],
                                 stdout=subprocess.DEVNULL, stderr=open(work / "brook.log", "w"))
        procs.append(brook)
        wait_port(port, "brook")
        print("Brook:", flush=True)
        results.append(("Brook", measure(port, "brook", files, args.rows)))
        brook.terminate()
        brook.wait(timeout=120)

        print()
        print("| server | COPY | no key s | PRIMARY KEY s | keyed / unkeyed |")
        print("| --- | --- | ---: | ---: | ---: |")
        for name, t in results:
            for step, what in ((1, "into the empty table"), (2, f"{args.rows:,} more into {args.rows:,} rows")):
                plain, keyed = t[("plain", step)], t[("keyed", step)]
                print(f"| {name} | {what} | {plain:.2f} | {keyed:.2f} | {keyed / plain:.2f}× |")
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
