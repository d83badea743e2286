#!/usr/bin/env python3
"""bench/insert: single-row INSERTs from many clients, Brook vs PostgreSQL 15, same run.

Each server gets the same table and the same load (bench/insert/clients.rs:
--clients connections, each a prepared single-row INSERT in autocommit, back
to back, for --seconds). PostgreSQL runs with its defaults for durability
(synchronous_commit = on, fsync = on): an acknowledged row is on disk in
both. After each run the rows are counted: every acknowledged INSERT must be
there. Several Brook binaries can be measured in the same run
(--brook name=path, for before/after comparisons).

    python3 bench/insert/run.py --clients 64 --seconds 60
    python3 bench/insert/run.py --brook before=/tmp/bins/brook-before --brook after=target/release/brook
"""
import argparse, json, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ports import free_port, wait_port  # noqa: E402
from postgres import psql, start_postgres  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TABLE = "CREATE TABLE events (client int NOT NULL, seq bigint NOT NULL, payload text)"


def measure(name, port, user, load_bin, clients, seconds):
    psql(port, user, "-c", "DROP TABLE IF EXISTS events", "-c", TABLE)
    conn = f"host=127.0.0.1 port={port} user={user} dbname={user}"
    out = subprocess.run([str(load_bin), conn, str(clients), str(seconds), "events"],
                         capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    stored = int(psql(port, user, "-c", "SELECT count(*) FROM events"))
    if stored != result["commits"]:
        sys.exit(f"{name}: {result['commits']} INSERTs acknowledged but {stored} rows stored")
    print(f"{name}: {result}", flush=True)
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--brook", action="append", default=[],
                    help="name=path of a release binary to measure (repeatable); default: build this tree")
    ap.add_argument("--load", help="the insert_load example to use (default: build it)")
    args = ap.parse_args()
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    if not args.brook or not args.load:
        subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "brook", "--example", "insert_load"],
                       cwd=ROOT, check=True)
    brooks = [b.split("=", 1) for b in args.brook] or [["Brook", str(target / "release" / "brook")]]
    load_bin = Path(args.load or target / "release" / "examples" / "insert_load")

    work = Path(tempfile.mkdtemp(prefix="brook-insert-"))
    os.chmod(work, 0o777)
    procs = []
    results = []
    try:
        print(f"machine: {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}; "
              f"{args.clients} clients x {args.seconds} s each", flush=True)
        pg, pg_port = start_postgres(work, "max_connections=200")
        procs.append(pg)
        print("PostgreSQL:", psql(pg_port, "postgres", "-c", "SHOW synchronous_commit"),
              "synchronous_commit,", psql(pg_port, "postgres", "-c", "SHOW fsync"), "fsync", flush=True)
        results.append(("PostgreSQL 15", measure("PostgreSQL 15", pg_port, "postgres", load_bin, args.clients, args.seconds)))
        pg.terminate()
        pg.wait(timeout=60)

        for name, path in brooks:
            port = free_port()
            brook = subprocess.Popen([path, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(work / name),
                                      "--max-connections", str(args.clients + 10)],
                                     stdout=subprocess.DEVNULL, stderr=open(work / f"{name}.log", "w"))
            procs.append(brook)
            wait_port(port, name)
            results.append((name, measure(name, port, "brook", load_bin, args.clients, args.seconds)))
            brook.terminate()
            brook.wait(timeout=120)

        pg_result = results[0][1]
        print()
        print("| server | INSERTs/s | p50 ms | p99 ms | max ms | errors | throughput vs PostgreSQL | p99 vs PostgreSQL |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, r in results:
            print(f"| {name} | {r['per_second']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['max_ms']:.1f} | {r['errors']} "
                  f"| {r['per_second'] / pg_result['per_second']:.2f}× | {r['p99_ms'] / pg_result['p99_ms']:.2f}× |")
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
