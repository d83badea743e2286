"""Run dbt, Alembic and pg_dump against a fresh Brook and a fresh
PostgreSQL 15 and write the pass counts (target/compat.md). Usage:
compat.py <brook binary> <venv>. Each step is a user's command; it passes
when the command exits 0 (and, for pg_dump, when what it printed restores
into a second PostgreSQL database)."""

import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time

BROOK, VENV = sys.argv[1], pathlib.Path(sys.argv[2])
ROOT = pathlib.Path(__file__).resolve().parent.parent
PG_BIN = pathlib.Path(os.environ.get("BROOK_PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_postgres(args):
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def wait_for(port):
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on {port}")


def start_postgres(work):
    data = work / "pg"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(work, "postgres")
        shutil.chown(data, "postgres")
    subprocess.run(as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres",
                                "--auth=trust"]), check=True, capture_output=True)
    port = free_port()
    proc = subprocess.Popen(as_postgres([str(PG_BIN / "postgres"), "-D", str(data), "-p", str(port),
                                         "-k", str(work), "-c", "listen_addresses=127.0.0.1"]),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(port)
    time.sleep(0.5)
    return proc, {"port": port, "user": "postgres", "db": "postgres"}


def start_brook(work):
    port = free_port()
    log = open(work / "brook.log", "w")
    proc = subprocess.Popen([BROOK, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir",
                             str(work / "brook")], stdout=log, stderr=log)
    wait_for(port)
    return proc, {"port": port, "user": "brook", "db": "brook"}


def run(args, cwd=None, env=None):
    out = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    return out.returncode == 0, (out.stdout + out.stderr)


def dbt(server, work, name):
    project = work / f"dbt-{name}"
    shutil.copytree(ROOT / "tests" / "dbt", project)
    (project / "profiles.yml").write_text(
        "brook_compat:\n  target: t\n  outputs:\n    t:\n      type: postgres\n"
        f"      host: 127.0.0.1\n      port: {server['port']}\n      user: {server['user']}\n"
        f"      password: ''\n      dbname: {server['db']}\n      schema: public\n      threads: 1\n")
    steps = ["debug", "seed", "run", "run", "test", "snapshot", "docs generate"]
    results = []
    for step in steps:
        ok, text = run([str(VENV / "bin" / "dbt"), "--no-use-colors", *step.split(),
                        "--profiles-dir", "."], cwd=project)
        results.append((f"dbt {step}", ok, first_error(text)))
    return results


DBT_MODELS = ["people_view", "adults", "people_merge", "people_delete_insert"]


def dbt_rows(server):
    """What the dbt models hold, as psql prints it (sorted), to compare."""
    conn = ["-h", "127.0.0.1", "-p", str(server["port"]), "-U", server["user"], "-d", server["db"]]
    out = []
    for model in DBT_MODELS:
        ok, text = run(["psql", *conn, "-X", "-At", "-c", f"SELECT * FROM {model} ORDER BY 1"])
        out.append(f"{model}: {text.strip() if ok else 'error: ' + text.strip()}")
    # persist_docs wrote schema.yml's descriptions as comments.
    ok, text = run(["psql", *conn, "-X", "-At", "-c",
                    "SELECT obj_description('adults'::regclass, 'pg_class'), "
                    "col_description('adults'::regclass, 1)"])
    out.append(f"adults comments: {text.strip() if ok else 'error: ' + text.strip()}")
    return "\n".join(out)


def first_error(text):
    """The server's message, where a tool printed one: the line after dbt's
    `Database Error in …`, a line with `ERROR:` or `error:`."""
    lines = [l.strip() for l in text.splitlines()]
    for i, line in enumerate(lines):
        if "Database Error" in line or "Runtime Error" in line or "Compilation Error" in line:
            return " ".join(lines[i:i + 3])[:300]
    for line in lines:
        if "ERROR:" in line or "error:" in line:
            return line[:300]
    return ""


def alembic(server):
    url = f"postgresql+psycopg://{server['user']}@127.0.0.1:{server['port']}/{server['db']}"
    ok, text = run([str(VENV / "bin" / "python"), str(ROOT / "tests/python/alembic_migrations.py"),
                    url])
    return [("alembic upgrade/downgrade/upgrade", ok, "" if ok else text.strip().splitlines()[-1])]


def pg_dump(server, oracle):
    """pg_dump of a small schema, and its restore into a fresh PostgreSQL database."""
    conn = ["-h", "127.0.0.1", "-p", str(server["port"]), "-U", server["user"], "-d", server["db"]]
    run(["psql", *conn, "-X", "-c", "CREATE TABLE dumped (id int PRIMARY KEY, name text)",
         "-c", "INSERT INTO dumped VALUES (1, 'one'), (2, 'two')",
         "-c", "CREATE VIEW dumped_view AS SELECT name FROM dumped"])
    results = []
    for label, extra in [("pg_dump --schema-only", ["--schema-only"]),
                         ("pg_dump --data-only", ["--data-only"]),
                         ("pg_dump -t dumped", ["-t", "dumped"])]:
        ok, text = run([str(PG_BIN / "pg_dump"), *conn, *extra])
        results.append((label, ok, "" if ok else first_error(text) or text[:200]))
    ok, dump = run([str(PG_BIN / "pg_dump"), *conn])
    restored = False
    if ok:
        target = ["-h", "127.0.0.1", "-p", str(oracle["port"]), "-U", "postgres"]
        db = f"restore_{server['user']}"
        run(["psql", *target, "-X", "-c", f"DROP DATABASE IF EXISTS {db}", "-c", f"CREATE DATABASE {db}"])
        # The dump's OWNER TO names the source's role: a DBA restores the
        # roles first (pg_dumpall --globals-only); here it is created.
        run(["psql", *target, "-X", "-c",
             f"DO $$ BEGIN CREATE ROLE {server['user']}; EXCEPTION WHEN duplicate_object THEN NULL; END $$"])
        load = subprocess.run(["psql", *target, "-d", db, "-X", "-v", "ON_ERROR_STOP=1"],
                              input=dump, capture_output=True, text=True)
        check = subprocess.run(["psql", *target, "-d", db, "-X", "-At", "-c",
                                "SELECT count(*) FROM dumped_view"], capture_output=True, text=True)
        restored = load.returncode == 0 and check.stdout.strip() == "2"
        dump = load.stderr
    results.append(("pg_dump | psql into PostgreSQL", restored, "" if restored else first_error(dump)))
    archive = pathlib.Path(tempfile.mkdtemp()) / "dump.custom"
    ok, text = run([str(PG_BIN / "pg_dump"), *conn, "-Fc", "-f", str(archive)])
    restored = False
    if ok:
        target = ["-h", "127.0.0.1", "-p", str(oracle["port"]), "-U", "postgres"]
        db = f"restore_fc_{server['user']}"
        run(["psql", *target, "-X", "-c", f"DROP DATABASE IF EXISTS {db}", "-c", f"CREATE DATABASE {db}"])
        ok, text = run([str(PG_BIN / "pg_restore"), *target, "-d", db, "--exit-on-error", str(archive)])
        check = subprocess.run(["psql", *target, "-d", db, "-X", "-At", "-c",
                                "SELECT count(*) FROM dumped_view"], capture_output=True, text=True)
        restored = ok and check.stdout.strip() == "2"
    results.append(("pg_dump -Fc, pg_restore into PostgreSQL", restored,
                     "" if restored else first_error(text) or text[:200]))
    return results


def main():
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        os.chmod(work, 0o777)
        pg, oracle = start_postgres(work)
        brook, server = start_brook(work)
        try:
            table = {}
            rows = {}
            for name, target in [("PostgreSQL 15", oracle), ("Brook", server)]:
                table[name] = dbt(target, work, name.split()[0])
                rows[name] = dbt_rows(target)
                table[name] += alembic(target) + pg_dump(target, oracle)
            same = rows["Brook"] == rows["PostgreSQL 15"]
            table["PostgreSQL 15"].insert(7, ("dbt models hold PostgreSQL's rows", True, ""))
            table["Brook"].insert(7, ("dbt models hold PostgreSQL's rows", same,
                                      "" if same else rows["Brook"][:200]))
        finally:
            brook.terminate()
            pg.terminate()
    lines = ["| step | PostgreSQL 15 | Brook | Brook's first error |", "| --- | --- | --- | --- |"]
    for (step, pg_ok, _), (_, brook_ok, error) in zip(table["PostgreSQL 15"], table["Brook"]):
        mark = lambda ok: "pass" if ok else "**fail**"
        lines.append(f"| {step} | {mark(pg_ok)} | {mark(brook_ok)} | {error.replace('|', '/')} |")
    passed = {k: sum(ok for _, ok, _ in v) for k, v in table.items()}
    lines.append("")
    lines.append(f"PostgreSQL 15: {passed['PostgreSQL 15']}/{len(table['PostgreSQL 15'])}, "
                 f"Brook: {passed['Brook']}/{len(table['Brook'])}")
    report = "\n".join(lines)
    out = ROOT / "target"
    out.mkdir(exist_ok=True)
    (out / "compat.md").write_text(report + "\n")
    print(report)


main()
