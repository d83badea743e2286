"""Loopback port helpers shared by the benchmark scripts in bench/*/run.py."""
import socket, sys, time


def free_port():
    """A TCP port nothing listens on now (for a server the benchmark starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, what, timeout=120):
    """Wait until something accepts connections on `port`, or exit saying `what` did not."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"{what} did not listen on {port}")
