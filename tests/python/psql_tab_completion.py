"""psql's tab completion against a live Brook, through a real terminal: psql
sends its catalog queries when Tab is pressed, and completes what the user
typed only if Brook answers them. Each case types a prefix, presses Tab and
expects the completed word on the screen. Prints `ok <case>`."""

import os
import pty
import select
import sys
import time

host, port = sys.argv[1], sys.argv[2]
CASES = [
    # (what is typed, what the completed line must contain)
    ("SELECT * FROM peop", "people"),
    ("SELECT * FROM people WHERE nick", "nickname"),
    ("\\d peo", "people"),
    ("SELECT * FROM lab.rea", "lab.readings"),
    ("INSERT INTO peo", "people"),
]


def read_until(fd, wanted, seconds=10.0):
    seen = b""
    deadline = time.time() + seconds
    while time.time() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
            if wanted.encode() in seen:
                return seen.decode(errors="replace")
    raise AssertionError(f"never saw {wanted!r}; screen:\n{seen.decode(errors='replace')}")


pid, fd = pty.fork()
if pid == 0:
    os.environ["PSQL_HISTORY"] = "/dev/null"
    os.environ["TERM"] = "dumb"
    os.execvp("psql", ["psql", "-X", "-h", host, "-p", port, "-U", "brook", "brook"])

read_until(fd, "brook=")
for typed, expected in CASES:
    os.write(fd, typed.encode() + b"\t")
    read_until(fd, expected)
    # Clear the line (Ctrl-U) before the next case.
    os.write(fd, b"\x15")
    time.sleep(0.2)
    print("ok", expected, flush=True)
os.write(fd, b"\\q\n")
os.waitpid(pid, 0)
