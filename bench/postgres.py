"""PostgreSQL 15 as the benchmarks' peer, and psql to talk to any server:
shared by the bench/*/run.py scripts that start their own PostgreSQL."""
import os, shutil, subprocess, sys, time
from pathlib import Path

from ports import free_port, wait_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def psql(port, user, *args):
    """Run psql against `port` as `user` (database of the same name); its output, or exit with its error."""
    cmd = ["psql", "-X", "-h", "127.0.0.1", "-p", str(port), "-U", user, "-d", user, "-v", "ON_ERROR_STOP=1", "-At", *args]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"psql failed: {' '.join(cmd)}\n{out.stderr}")
    return out.stdout.strip()


def start_postgres(work, *settings):
    """A fresh PostgreSQL 15 cluster in `work`/pg with its defaults (fsync and
    synchronous_commit on) and `settings` (`name=value`); (process, port)."""
    port = free_port()
    data = Path(work) / "pg"
    data.mkdir()
    shutil.chown(data, "postgres", "postgres")
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run(as_pg + [str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"],
                   check=True, capture_output=True)
    options = [a for s in ("listen_addresses=127.0.0.1", *settings) for a in ("-c", s)]
    pg = subprocess.Popen(as_pg + [str(PG_BIN / "postgres"), "-D", str(data), "-p", str(port), "-k", str(work), *options],
                          stdout=subprocess.DEVNULL, stderr=open(Path(work) / "pg.log", "w"))
    wait_port(port, "postgres")
    time.sleep(1)
    return pg, port
