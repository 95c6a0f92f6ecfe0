"""Signed Twilio SMS webhooks: Helpline's `/twilio/sms` against a bare Starlette endpoint returning empty TwiML.

Both apps run under the same uvicorn settings in a child process (so the load generator does not share their GIL)
and get the same requests: distinct MessageSids, each signed with `RequestValidator.compute_signature` beforehand
(signing is Twilio's cost, not ours). Helpline checks the signature, builds the envelope (E.164, language, keywords),
stores it with `Store.accept` (dedupe key, message, raw body and the pipeline job in one MULTI/EXEC) and only then
answers. Clients: CLIENTS threads, each with its own keep-alive httpx connection, as Twilio opens several.
Helpline runs twice, against a Redis without persistence and against one with `appendfsync always` (what
`helpline run` gives its embedded Redis: the 200 then means the message is on disk).
"""

from __future__ import annotations

import multiprocessing
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from urllib.parse import urlencode

import httpx
import uvicorn
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench import support
from bench.support import filesystem_of
from core.redis_conn import connect
from core.settings import Settings
from core.store import Store
from tests.support.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, sign, sms_form
from tests.support.ports import free_port
from tests.support.redis_server import RedisServer

REQUESTS = 2000
CLIENTS = 4
ROUNDS = 2  # interleaved; the best run counts
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'
BODIES = ["My top up has not arrived yet, can you check?", "我的卡被盗刷了，请帮我冻结", "STOP", "hello"]
BARE = "bare Starlette, empty TwiML"
HELPLINE = "Helpline `/twilio/sms`, Redis appendonly no"
HELPLINE_FSYNC = "Helpline `/twilio/sms`, Redis appendonly yes + appendfsync always"


def bench_settings(redis_url: str) -> Settings:
    base = support.bench_settings(redis_url)
    twilio = base.twilio.model_copy(update={"account_sid": ACCOUNT_SID, "auth_token": SecretStr(AUTH_TOKEN)})
    return base.model_copy(update={"twilio": twilio})


def bare_app() -> Starlette:
    async def sms(request: Request) -> Response:
        await request.body()
        return Response(EMPTY_TWIML, media_type="text/xml")

    return Starlette(routes=[Route("/twilio/sms", sms, methods=["POST"])])


def helpline_app(redis_url: str) -> Starlette:
    from web.app import create_app

    settings = bench_settings(redis_url)
    return create_app(settings, Store(connect(settings)))


def _serve(factory: Callable[[], Starlette], port: int) -> None:
    uvicorn.run(factory(), host="127.0.0.1", port=port, log_level="error", access_log=False)


@contextmanager
def served(factory: Callable[[], Starlette]) -> Iterator[str]:
    port = free_port()
    process = multiprocessing.get_context("fork").Process(target=_serve, args=(factory, port), daemon=True)
    process.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while True:
        try:
            httpx.get(url + "/", timeout=0.5)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("uvicorn did not start") from None
            time.sleep(0.02)
    try:
        yield url
    finally:
        process.terminate()
        process.join(10)


def signed_requests(url: str, tag: str) -> list[tuple[bytes, str]]:
    requests = []
    for i in range(REQUESTS):
        form = sms_form(BODIES[i % len(BODIES)], sid=f"SM{tag}{i:028d}"[:34], from_=f"+1415555{i % 10000:04d}")
        requests.append((urlencode(form).encode(), sign(url + "/twilio/sms", form)))
    return requests


def load(url: str, requests: list[tuple[bytes, str]]) -> tuple[float, list[float]]:
    """Send every request; any non-200 raises, so a refusing server cannot look fast. Returns (seconds, latencies)."""
    latencies: list[float] = []
    lock = threading.Lock()
    errors: list[str] = []

    def client(part: list[tuple[bytes, str]]) -> None:
        mine = []
        with httpx.Client(base_url=url, timeout=10) as http:
            for body, signature in part:
                headers = {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}
                start = time.perf_counter()
                response = http.post("/twilio/sms", content=body, headers=headers)
                mine.append(time.perf_counter() - start)
                if response.status_code != 200:
                    errors.append(f"{response.status_code} {response.text[:80]}")
                    return
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(requests[i::CLIENTS],)) for i in range(CLIENTS)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"webhook refused: {errors[0]}")
    return elapsed, latencies


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def run_rounds(redis_url: str, fsync_url: str) -> dict[str, tuple[float, list[float]]]:
    results: dict[str, tuple[float, list[float]]] = {}
    factories: dict[str, Callable[[], Starlette]] = {
        BARE: bare_app,
        HELPLINE: lambda: helpline_app(redis_url),
        HELPLINE_FSYNC: lambda: helpline_app(fsync_url),
    }
    for round_ in range(ROUNDS):
        for name, factory in factories.items():
            with served(factory) as url:
                load(url, signed_requests(url, f"w{round_}")[:100])  # warm-up: imports, connections
                elapsed, latencies = load(url, signed_requests(url, f"r{round_}"))
            if name not in results or elapsed < results[name][0]:
                results[name] = (elapsed, latencies)
    return results


def main() -> str:
    with ExitStack() as stack:  # private servers, stopped by their PIDs
        plain = stack.enter_context(RedisServer())
        fsync = stack.enter_context(RedisServer(fsync_always=True))
        filesystem = filesystem_of(fsync.workdir)
        results = run_rounds(plain.url, fsync.url)
        expected = ROUNDS * (REQUESTS + 100)  # every request of every round, warm-ups included, stored exactly once
        for server in (plain, fsync):
            store = Store(connect(bench_settings(server.url)))
            stored = len(store.message_ids())
            store.redis.close()
            if stored != expected:
                raise RuntimeError(f"Helpline ({server.durability}) stored {stored} messages, expected {expected}")
    return report(results, filesystem)


def report(results: dict[str, tuple[float, list[float]]], filesystem: str) -> str:
    base_rate = REQUESTS / next(iter(results.values()))[0]
    fsync_share = results[HELPLINE][0] / results[HELPLINE_FSYNC][0]
    rows = []
    for i, (name, (elapsed, latencies)) in enumerate(results.items()):
        rate = REQUESTS / elapsed
        p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
        versus = "1.00× (baseline)" if i == 0 else f"**{rate / base_rate:.2f}×**"
        rows.append(f"| {name} | {rate:,.0f} | {versus} | {p50:.2f} | {p99:.2f} |")
    return "\n".join(
        [
            "## Twilio webhook: signed `/twilio/sms` vs a bare Starlette endpoint (`bench/bench_twilio_webhook.py`)",
            "",
            f"{REQUESTS} signed inbound-SMS webhooks per run (English, Chinese, STOP; distinct MessageSids), sent by "
            f"{CLIENTS} keep-alive httpx clients in threads; each app served by one uvicorn in a child process. "
            "Helpline validates `X-Twilio-Signature`, builds the envelope and stores it with `Store.accept` before "
            "answering empty TwiML; the baseline only reads the body and answers empty TwiML. Private "
            "redis-servers on loopback, once without persistence and once with `appendfsync always` (what "
            "`helpline run` gives its embedded Redis, so a 200 means on disk), their files on "
            f"{filesystem}; best of {ROUNDS} interleaved runs; latency is per request as the client sees it.",
            "",
            "| endpoint | requests/s | vs bare | p50 ms | p99 ms |",
            "|---|---|---|---|---|",
            *rows,
            "",
            f"With `appendfsync always` Helpline keeps {fsync_share:.2f}× of its throughput without persistence: "
            "each webhook waits for the fsync of its `Store.accept` MULTI/EXEC before the 200, and Redis fsyncs "
            "once per pass of its event loop, so webhooks that arrive together share one fsync.",
        ]
    )
