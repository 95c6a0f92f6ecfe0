"""Ingest end to end: 1,000 real-ish mails over SMTP into the real processes, against a naive baseline, same run.

Helpline runs as it runs in production, one process each: `helpline serve smtp` and `workers.count` (the default
from settings.toml) `helpline serve worker` processes, on a private redis-server with `appendonly yes,
appendfsync always` (what `helpline run` gives its embedded Redis: a 250 means on disk), the record in a private
PostgreSQL cluster with fsync on, and the acknowledgements sent to a local SMTP sink (the relay). Timed: how fast
the SMTP server accepts the mails (every one must get its 250), and how fast the whole pipeline drains them
(routing, threading, the record, filing, acknowledgements): from the first mail sent until no message and no reply
is in flight any more (core/inflight.py) and no job is queued.

The baseline is what a naive ingester does in one process: the stdlib `email` parse of each mail, its text body,
and one LPUSH of that to the same Redis.

The mails: the golden test mails (tests/golden/email/*.eml: English and Chinese in many charsets, HTML-only,
forwarded, auto-replies, bounces, attachments), each copy with its own Message-ID, mixed with bench/support.py's
generated support mails (each from its own customer), 1,000 in all.
"""

from __future__ import annotations

import json
import os
import re
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from email import message_from_bytes, policy
from pathlib import Path

from redis import Redis

from bench.support import ROOT, SUPPORT_ADDRESS, fmt_ratio, sample_emails
from core.settings import load_settings
from tests.support.ports import free_port, wait_for_greeting
from tests.support.postgres import PostgresCluster
from tests.support.redis_server import RedisServer
from tests.support.smtp_sink import SmtpSink

MESSAGES = 1000
CLIENTS = 4  # concurrent SMTP connections, as several MTAs deliver at once
GOLDEN = ROOT / "tests" / "golden" / "email"
SERVE = (sys.executable, "-m", "helpline", "serve")
WORKER = (*SERVE, "worker")
_MESSAGE_ID = re.compile(rb"^Message-ID:[^\r\n]*(\r?\n[ \t][^\r\n]*)*\r?\n", re.I | re.M)


def bench_mails(count: int = MESSAGES, tag: str = "ingest") -> list[bytes]:
    """Goldens and generated mails, interleaved; every one with a Message-ID of its own (no duplicates)."""
    goldens = [path.read_bytes() for path in sorted(GOLDEN.glob("*.eml"))]
    generated = sample_emails(count, tag=tag)
    mails: list[bytes] = []
    for i in range(count):
        if i % 3 == 2 and goldens:  # a third goldens, two thirds generated support mail
            raw = goldens[(i // 3) % len(goldens)]
            raw = _MESSAGE_ID.sub(b"", raw, count=1)
            mails.append(f"Message-ID: <{tag}-golden-{i}@bench.example>\r\n".encode() + raw)
        else:
            mails.append(generated[i])
    return mails


def naive_rate(redis: Redis, mails: list[bytes]) -> float:
    """The baseline: stdlib parse, text body, one LPUSH each, one process."""
    start = time.perf_counter()
    for raw in mails:
        message = message_from_bytes(raw, policy=policy.default)
        body = message.get_body(("plain", "html"))
        try:  # naive, but it must not stop on the hostile goldens (an unknown charset, a NUL in its name)
            text = body.get_content() if body is not None else ""
        except (LookupError, ValueError):
            text = ""
        record = {"from": str(message["From"] or ""), "subject": str(message["Subject"] or ""), "text": text}
        redis.lpush("naive:inbox", json.dumps(record))
    return len(mails) / (time.perf_counter() - start)


def _send(port: int, mails: list[bytes], refused: list[str]) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        for raw in mails:
            try:
                client.sendmail("customer@example.com", [SUPPORT_ADDRESS], raw)
            except smtplib.SMTPResponseException as exc:
                refused.append(f"{exc.smtp_code} {exc.smtp_error!r}")


def _in_flight(redis: Redis) -> int:
    """Messages and replies in flight, replies waiting for the record, and queued jobs. A reply's send clears its
    in-flight entry in the MULTI that adds it to the replies waiting for the record, and only then queues the job
    that records them: counting both keeps a drained desk from showing between the two."""
    pipe = redis.pipeline(transaction=False)
    pipe.zcard("hl:inflight:process")
    pipe.zcard("hl:inflight:send")
    pipe.zcard("hl:record:replies")
    for name in redis.smembers("rq:queues"):
        pipe.llen(name)
    return sum(int(n) for n in pipe.execute())


def _cpu_seconds(pid: int, *, with_children: bool = False) -> float:
    """User + system CPU time of a live process so far (/proc/PID/stat): a figure the machine's other users inflate
    far less than wall time. `with_children`: its children's too, the live ones' and the ended ones' (a server's
    backends, e.g. PostgreSQL's)."""
    fields = _stat(pid)
    assert fields is not None, f"process {pid} is gone"
    ticks = int(fields[11]) + int(fields[12])
    if with_children:
        ticks += int(fields[13]) + int(fields[14])  # children it has waited for
        for child in _children(pid):
            child_fields = _stat(child)  # None: ended meanwhile, and its parent's waited-for figures have it
            ticks += int(child_fields[11]) + int(child_fields[12]) if child_fields else 0
    return ticks / os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    """/proc/PID/stat's fields after the command name (the state is [0]); None when the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None


def _children(pid: int) -> list[int]:
    pids = (int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit())
    return [child for child in pids if (fields := _stat(child)) is not None and int(fields[1]) == pid]


def _machine_cpu_seconds() -> float:
    """CPU time the whole machine spent busy so far, all cores (/proc/stat: everything but idle and iowait)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _commands(redis: Redis) -> int:
    return int(redis.info("stats")["total_commands_processed"])


def run_helpline(
    mails: list[bytes],
    redis_url: str,
    database_url: str,
    sink: SmtpSink,
    *,
    worker_command: Sequence[str] = WORKER,
    servers: dict[str, int] | None = None,
) -> dict[str, float]:
    """One timed run of `helpline serve smtp` and `workers.count` workers (`worker_command` each: bench_record swaps
    in a worker without the record) on `mails`; the processes are stopped before it returns. `servers`: the pids of
    servers whose CPU time (with their children's) the run also measures, by name (`cpu_{name}_ms` a message)."""
    servers = servers or {}
    workers = load_settings(ROOT / "settings.toml").workers.count
    port = free_port()
    env = {
        **os.environ,
        "HELPLINE_SETTINGS": str(ROOT / "settings.toml"),
        "HELPLINE_REDIS__URL": redis_url,
        "HELPLINE_DATABASE__URL": database_url,
        "HELPLINE_EMAIL__INBOUND__PORT": str(port),
        "HELPLINE_EMAIL__OUTBOUND__HOST": "127.0.0.1",
        "HELPLINE_EMAIL__OUTBOUND__PORT": str(sink.port),
    }
    logs = Path(tempfile.mkdtemp(prefix="hl-bench-ingest-"))
    processes = []
    roles = [("smtp", [*SERVE, "smtp"])] + [("worker", list(worker_command))] * workers
    for number, (name, command) in enumerate(roles):
        log = (logs / f"{name}-{number}.log").open("wb")
        processes.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
    redis = Redis.from_url(redis_url)
    try:
        wait_for_greeting(port, b"220", timeout=60)
        time.sleep(3)  # the workers load their router and model
        cpu_idle = [_cpu_seconds(process.pid) for process in processes]
        servers_idle = {name: _cpu_seconds(pid, with_children=True) for name, pid in servers.items()}
        machine_idle = _machine_cpu_seconds()
        commands_before = _commands(redis)
        refused: list[str] = []
        shares = [mails[i::CLIENTS] for i in range(CLIENTS)]
        clients = [threading.Thread(target=_send, args=(port, share, refused)) for share in shares]
        start = time.perf_counter()
        for client in clients:
            client.start()
        for client in clients:
            client.join()
        accepted_at = time.perf_counter()
        if refused:
            raise RuntimeError(f"{len(refused)} mails refused, e.g. {refused[0]}")
        deadline = time.monotonic() + 600
        while _in_flight(redis) and time.monotonic() < deadline:
            time.sleep(0.05)
        drained_at = time.perf_counter()
        commands = _commands(redis) - commands_before
        cpu = [_cpu_seconds(process.pid) - idle for process, idle in zip(processes, cpu_idle, strict=True)]
        servers_cpu = {
            f"cpu_{name}_ms": 1000 * (_cpu_seconds(pid, with_children=True) - servers_idle[name]) / len(mails)
            for name, pid in servers.items()
        }
        machine_cpu = _machine_cpu_seconds() - machine_idle
        stored = len(redis.keys("hl:msg:*"))
        return {
            "commands": commands / len(mails),
            "cpu_smtp_ms": 1000 * cpu[0] / len(mails),
            "cpu_workers_ms": 1000 * sum(cpu[1:]) / len(mails),
            **servers_cpu,
            "cpu_machine_ms": 1000 * machine_cpu / len(mails),
            "accept": len(mails) / (accepted_at - start),
            "drain": len(mails) / (drained_at - start),
            "stored": stored,
            "acks": len(sink.messages),
            "workers": workers,
            "left": _in_flight(redis),
        }
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(30)
        redis.close()


def measure() -> dict[str, float]:
    mails = bench_mails()
    with RedisServer(fsync_always=True) as server:
        sink = SmtpSink().start()
        cluster = PostgresCluster(durable=True).start()
        try:
            redis = Redis.from_url(server.url)
            before = naive_rate(redis, mails)
            redis.delete("naive:inbox")
            assert server.process is not None and cluster.server.pid is not None
            servers = {"redis": server.process.pid, "postgres": cluster.server.pid}
            result = run_helpline(mails, server.url, cluster.new_database(), sink, servers=servers)
            after = naive_rate(redis, mails)
            redis.close()
        finally:
            sink.stop()
            cluster.stop()
    result["naive"] = max(before, after)
    result["load"] = os.getloadavg()[0]
    return result


def main() -> str:
    r = measure()
    accept, drain = fmt_ratio(r["accept"] / r["naive"]), fmt_ratio(r["drain"] / r["naive"])
    return f"""## Ingest end to end: SMTP to acknowledgement, against a naive ingester (`bench/bench_ingest.py`)

{MESSAGES:,} mails (a third the golden test mails, each with its own Message-ID; two thirds generated support mail,
English and Chinese, some with HTML or an attachment) sent by {CLIENTS} concurrent smtplib connections to
`helpline serve smtp`, drained by {r["workers"]:.0f} `helpline serve worker` processes (the default `workers.count`);
Redis with `appendfsync always`, the record in PostgreSQL with fsync on, acknowledgements to a local SMTP sink.
Drained = nothing in flight any more (core/inflight.py), no reply waiting for the record, no job queued. The naive
baseline parses each mail with the stdlib and LPUSHes its text to the same Redis, in one process (best of one run
before and one after).

| | msg/s | vs naive |
|---|---:|---:|
| naive: stdlib parse + one LPUSH (baseline) | {r["naive"]:,.0f} | 1.00× |
| Helpline accepts over SMTP (every mail 250) | {r["accept"]:,.0f} | {accept} |
| Helpline end to end (routed, recorded, filed, acknowledged) | {r["drain"]:,.0f} | **{drain}** |

Per message, figures the machine's other users inflate far less than the rates: {r["commands"]:,.0f} Redis commands
(the SMTP server and the workers; no scheduler runs), and CPU time from the first mail sent to the desk drained:

| process | CPU ms a message |
|---|---:|
| `helpline serve worker` (all of them) | {r["cpu_workers_ms"]:,.1f} |
| `helpline serve smtp` | {r["cpu_smtp_ms"]:,.1f} |
| redis-server (`appendfsync always`) | {r["cpu_redis_ms"]:,.1f} |
| PostgreSQL (postmaster and backends) | {r["cpu_postgres_ms"]:,.1f} |
| the whole machine (with this bench's SMTP clients and sink, and other users) | {r["cpu_machine_ms"]:,.1f} |

The {os.cpu_count()} cores had {1000 * (os.cpu_count() or 1) / r["drain"]:,.1f} ms a message at this rate, the machine
busy for {r["cpu_machine_ms"] * r["drain"] / (10 * (os.cpu_count() or 1)):,.0f}% of it; ≥ 240 msg/s leaves
{1000 * (os.cpu_count() or 1) / 240:,.1f} ms.

{r["stored"]:,.0f} messages stored, {r["acks"]:,.0f} acknowledgements at the sink (auto-replies, bounces and
list mail among the goldens get none, and repeats from one golden sender meet the auto-reply cap; the generated
mails each have words of their own, so the repeated-text cap does not suppress them), {r["left"]:.0f}
left in flight. Target: ≥ 240 msg/s end to end and ≥ 0.7× the naive baseline. Load average when the run ended:
{r["load"]:.1f} on {os.cpu_count()} cores (other work shares them).
"""


if __name__ == "__main__":
    print(main())
