#!/usr/bin/env python3
"""bench/ingest: Brook's pipeline vs a bare librdkafka consumer, same broker, same run.

1. Throughput: --messages JSON messages of 20 columns on one topic (tansu,
   in memory). The peer is confluent-kafka (librdkafka) consuming them and
   only counting; Brook's pipeline parses, converts and commits them into a
   durable table. Reported: messages/s and CPU seconds per million messages
   (the consuming process's user+system time) for both, and the ratios.
2. Latency: messages produced at --rate msg/s for --seconds s into a pipeline
   with BATCH_INTERVAL --interval; each carries its send time, and a poller
   reads `max(seq)` every few ms; produce→visible is the time from send to
   the first poll that sees it. p50/p99.
3. Memory: Brook's peak RSS while it ingests --rss-messages messages,
   sampled every 0.5 s, with the RSS after the first and the last tenth.

    python3 bench/ingest/run.py --messages 1000000 --rss-messages 10000000
"""
import argparse, json, os, random, resource, statistics, subprocess, sys, tempfile, threading, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ports import free_port, wait_port  # noqa: E402

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = Path(__file__).resolve().parents[2]
COLUMNS = 20


def cpu_seconds(pid):
    """utime + stime of a process, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def psql(port, sql):
    out = subprocess.run(
        ["psql", "-X", "-At", "-h", "127.0.0.1", "-p", str(port), "-U", "brook", "-d", "brook",
         "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"psql failed: {sql}\n{out.stderr}")
    return out.stdout.strip()


def message(i, rng):
    row = {"id": i}
    for c in range(1, COLUMNS):
        kind = c % 4
        if kind == 0:
            row[f"c{c}"] = rng.randint(0, 1_000_000)
        elif kind == 1:
            row[f"c{c}"] = round(rng.random() * 1000, 3)
        elif kind == 2:
            row[f"c{c}"] = f"text-{rng.randint(0, 9999)}"
        else:
            row[f"c{c}"] = rng.random() < 0.5
    return json.dumps(row).encode()


def table_ddl(name):
    cols = ["id bigint NOT NULL"]
    for c in range(1, COLUMNS):
        cols.append(f"c{c} " + ["bigint", "double precision", "text", "boolean"][c % 4])
    return f"CREATE TABLE {name} ({', '.join(cols)})"


def produce(brokers, topic, count, rng):
    p = Producer({"bootstrap.servers": brokers, "linger.ms": 20, "batch.num.messages": 10000,
                  "queue.buffering.max.messages": 1_000_000})
    for i in range(count):
        while True:
            try:
                p.produce(topic, message(i, rng), partition=0)
                break
            except BufferError:
                p.poll(0.05)
        if i % 10000 == 0:
            p.poll(0)
    p.flush(120)


def peer_consume(brokers, topic, count):
    """The bare librdkafka consumer: assign, read, count."""
    c = Consumer({"bootstrap.servers": brokers, "group.id": "bench-peer", "enable.auto.commit": False,
                  "enable.partition.eof": False})
    c.assign([TopicPartition(topic, 0, 0)])
    start_cpu = resource.getrusage(resource.RUSAGE_SELF)
    start = time.time()
    seen = 0
    while seen < count:
        for m in c.consume(num_messages=10000, timeout=1.0):
            if m.error() is None:
                seen += 1
    wall = time.time() - start
    end_cpu = resource.getrusage(resource.RUSAGE_SELF)
    c.close()
    cpu = (end_cpu.ru_utime - start_cpu.ru_utime) + (end_cpu.ru_stime - start_cpu.ru_stime)
    return wall, cpu


def start_brook(binary, data_dir, port):
    log = open(data_dir.with_suffix(".log"), "w")
    proc = subprocess.Popen([str(binary), "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(data_dir)],
                            stdout=subprocess.DEVNULL, stderr=log,
                            env={**os.environ, "RUST_LOG": os.environ.get("BROOK_BENCH_LOG", "warn")})
    wait_port(port, "brook")
    return proc


def wait_rows(port, table, count, proc, samples=None):
    """Wait until the pipeline has committed `count` messages (read from
    pipelines_cursors, which costs nothing, rather than a count(*) whose scans
    would add to the CPU and memory being measured), then check count(*)."""
    while True:
        n = int(psql(port, "SELECT coalesce(sum(committed_offset), 0) "
                           "FROM information_schema.pipelines_cursors") or 0)
        if samples is not None:
            samples.append((time.time(), n, rss_mib(proc.pid)))
        if n >= count:
            break
        time.sleep(0.5 if samples is not None else 0.1)
    rows = int(psql(port, f"SELECT count(*) FROM {table}"))
    if rows != count:
        sys.exit(f"{table} has {rows} rows, expected {count}")


def brook_ingest(binary, tmp, brokers, topic, count, interval=1000):
    port = free_port()
    proc = start_brook(binary, tmp / f"data-{topic}", port)
    psql(port, table_ddl("bench"))
    psql(port, f"CREATE PIPELINE p AS LOAD DATA KAFKA '{brokers}/{topic}' BATCH_INTERVAL {interval} "
               f"INTO TABLE bench FORMAT JSON")
    cpu0 = cpu_seconds(proc.pid)
    start = time.time()
    psql(port, "START PIPELINE p")
    samples = []
    wait_rows(port, "bench", count, proc, samples)
    wall = time.time() - start
    cpu = cpu_seconds(proc.pid) - cpu0
    # (the final count(*) check is inside the measured time: a small, honest cost)
    proc.terminate()
    proc.wait(60)
    return wall, cpu, samples


def latency(binary, tmp, brokers, rate, seconds, interval):
    topic = f"latency{interval}"
    admin = AdminClient({"bootstrap.servers": brokers})  # kept alive until the topic exists
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result()
    port = free_port()
    proc = start_brook(binary, tmp / f"data-{topic}", port)
    psql(port, "CREATE TABLE lat (seq bigint NOT NULL, sent double precision)")
    psql(port, f"CREATE PIPELINE l AS LOAD DATA KAFKA '{brokers}/{topic}' BATCH_INTERVAL {interval} "
               f"INTO TABLE lat FORMAT JSON")
    psql(port, "START PIPELINE l")
    time.sleep(2)
    seen = []  # (time, max seq visible)
    done = threading.Event()

    def poll():
        import psycopg
        with psycopg.connect(f"host=127.0.0.1 port={port} user=brook dbname=brook", autocommit=True) as conn:
            while not done.is_set():
                row = conn.execute("SELECT max(seq) FROM lat").fetchone()
                seen.append((time.time(), row[0] if row[0] is not None else -1))
                time.sleep(0.002)

    # The floor: a bare librdkafka consumer on the same topic, time from
    # send to its poll returning the message.
    peer_seen = {}

    def peer():
        c = Consumer({"bootstrap.servers": brokers, "group.id": "latency-peer",
                      "enable.auto.commit": False, "fetch.wait.max.ms": 10})
        c.assign([TopicPartition(topic, 0, 0)])
        while not done.is_set():
            for m in c.consume(num_messages=1000, timeout=0.05):
                if m.error() is None:
                    peer_seen[json.loads(m.value())["seq"]] = time.time()
        c.close()

    poller = threading.Thread(target=poll)
    poller.start()
    peer_thread = threading.Thread(target=peer)
    peer_thread.start()
    # librdkafka's default linger (5 ms), as a producer would run.
    p = Producer({"bootstrap.servers": brokers})
    total = rate * seconds
    sent = []
    start = time.time()
    for i in range(total):
        target = start + i / rate
        now = time.time()
        if target > now:
            time.sleep(target - now)
        t = time.time()
        p.produce(topic, json.dumps({"seq": i, "sent": t}).encode(), partition=0)
        sent.append(t)
        p.poll(0)
    p.flush(30)
    deadline = time.time() + 30
    while (not seen or seen[-1][1] < total - 1) and time.time() < deadline:
        time.sleep(0.05)
    done.set()
    poller.join()
    peer_thread.join()
    proc.terminate()
    proc.wait(60)
    lat = []
    j = 0
    for i, t in enumerate(sent):
        while j < len(seen) and seen[j][1] < i:
            j += 1
        if j == len(seen):
            break
        lat.append((seen[j][0] - t) * 1000)
    lat.sort()
    if len(lat) < total:
        print(f"warning: only {len(lat)} of {total} messages became visible", file=sys.stderr)
    floor = sorted((peer_seen[i] - t) * 1000 for i, t in enumerate(sent) if i in peer_seen)
    pct = lambda xs, q: xs[min(int(len(xs) * q), len(xs) - 1)] if xs else float("nan")
    return pct(lat, 0.5), pct(lat, 0.99), pct(floor, 0.5), pct(floor, 0.99)


def run_throughput(args, binary, tmp, brokers):
    rng = random.Random(42)
    t = time.time()
    produce(brokers, "bench", args.messages, rng)
    print(f"produced {args.messages} messages in {time.time() - t:.1f} s", flush=True)

    peer_wall, peer_cpu = peer_consume(brokers, "bench", args.messages)
    brook_wall, brook_cpu, _ = brook_ingest(binary, tmp, brokers, "bench", args.messages)
    peer_rate, brook_rate = args.messages / peer_wall, args.messages / brook_wall
    per_m = 1_000_000 / args.messages
    print(f"throughput  peer {peer_rate:,.0f} msg/s  brook {brook_rate:,.0f} msg/s  "
          f"ratio {brook_rate / peer_rate:.2f}")
    print(f"cpu/1M msg  peer {peer_cpu * per_m:.2f} s  brook {brook_cpu * per_m:.2f} s  "
          f"ratio {brook_cpu / max(peer_cpu, 1e-9):.2f}")


def run_memory(args, binary, tmp, brokers):
    t = time.time()
    produce(brokers, "rss", args.rss_messages, random.Random(7))
    print(f"produced {args.rss_messages} messages in {time.time() - t:.1f} s", flush=True)
    wall, _, samples = brook_ingest(binary, tmp, brokers, "rss", args.rss_messages)
    peak = max(s[2] for s in samples)
    tenth = args.rss_messages // 10
    early = max((s[2] for s in samples if s[1] <= tenth), default=0)
    late = max((s[2] for s in samples if s[1] >= 9 * tenth), default=0)
    print(f"memory over {args.rss_messages:,} messages ({wall:.0f} s): peak RSS {peak:.0f} MiB; "
          f"max RSS in first tenth {early:.0f} MiB, in last tenth {late:.0f} MiB")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--rss-messages", type=int, default=10_000_000)
    ap.add_argument("--rate", type=int, default=10_000)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--storage", default="sqlite", choices=["sqlite", "memory"],
                    help="tansu's storage engine (its in-memory engine stalls fetches of "
                         "topics made of many one-message batches, as the latency run produces)")
    ap.add_argument("--phases", default="throughput,latency,memory",
                    help="which of throughput, latency, memory to run (comma-separated)")
    ap.add_argument("--brook", help="a release binary to measure instead of building this tree "
                                    "(before/after comparisons of two commits in one run)")
    args = ap.parse_args()
    phases = set(args.phases.split(","))
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    if args.brook:
        binary = Path(args.brook)
    else:
        subprocess.run(["cargo", "build", "--release", "--bin", "brook"], cwd=ROOT, check=True)
        binary = target / "release" / "brook"
    tmp = Path(tempfile.mkdtemp(prefix="brook-bench-ingest-"))
    kafka_port = free_port()
    brokers = f"127.0.0.1:{kafka_port}"
    storage = "sqlite://tansu.db" if args.storage == "sqlite" else "memory://tansu/"
    tansu = subprocess.Popen(["tansu", "broker", "--listener-url", f"tcp://{brokers}",
                              "--advertised-listener-url", f"tcp://{brokers}", "--storage-engine", storage],
                             cwd=tmp, stdout=subprocess.DEVNULL, stderr=open(tmp / "tansu.log", "w"))
    try:
        wait_port(kafka_port, "tansu")
        admin = AdminClient({"bootstrap.servers": brokers})
        if "throughput" in phases:
            admin.create_topics([NewTopic("bench", 1, 1)])["bench"].result()
            run_throughput(args, binary, tmp, brokers)
        if "latency" in phases:
            for interval in (100, 50):
                p50, p99, f50, f99 = latency(binary, tmp, brokers, args.rate, args.seconds, interval)
                print(f"latency BATCH_INTERVAL {interval}: brook p50 {p50:.0f} ms  p99 {p99:.0f} ms; "
                      f"bare consumer p50 {f50:.0f} ms  p99 {f99:.0f} ms; at {args.rate} msg/s",
                      flush=True)
        if "memory" in phases and args.rss_messages:
            admin.create_topics([NewTopic("rss", 1, 1)])["rss"].result()
            run_memory(args, binary, tmp, brokers)
    finally:
        tansu.kill()


if __name__ == "__main__":
    main()
