"""End-to-end latency, arrival to acknowledgement, at a stepped offered load across email, SMS and Telegram at once.

A whole desk of real processes (bench/live_desk.py): `helpline serve smtp|web|scheduler` and 1, 2 or 4
`helpline serve worker`, a private redis-server with `appendfsync always`, a private PostgreSQL with fsync on (the
record). The load is open loop: one message every 1/rate seconds, the channels in turn — an email over SMTP, an
SMS as a signed Twilio webhook, a Telegram update with the webhook secret — each from a new customer (distinct
addresses, numbers and chats, so no auto-reply cap holds an acknowledgement back). Latency is from just before the
client sent to when the fake received the acknowledgement: the SMTP sink, the Twilio Messages API fake (through
the twilio library), the Telegram Bot API fake (through python-telegram-bot).

The baseline, measured in the same run, is the lowest load step with one worker: the ratios say how much a step's
latency grew over an unloaded desk's. A step whose p50 passes `SATURATED_P50_SECONDS` is where that worker count
saturates; the higher steps are skipped for it (their queues only grow).

`HELPLINE_BENCH_LATENCY="RATES;SECONDS;WORKERS"` (e.g. "5,10;2;1") shrinks it for a smoke run.
"""

from __future__ import annotations

import os
import time

from bench.live_desk import LiveDesk, StepResult, percentile
from bench.support import fmt_ratio

RATES: tuple[float, ...] = (5, 10, 25, 50, 75, 100, 150)  # messages a second, mixed
STEP_SECONDS = 10.0
WORKER_COUNTS: tuple[int, ...] = (1, 2, 4)
WARM_UP = 12  # messages through every channel before measuring: templates, router, triage model loaded
SATURATED_P50_SECONDS = 1.0
WAIT_SECONDS = 90.0  # after a step, for its acknowledgements: a saturated step's backlog drains meanwhile
TARGET_RATE, TARGET_P50, TARGET_P99 = 100.0, 0.100, 0.500


HEADER = (
    "| workers | offered msg/s | sent msg/s | p50 ms | p99 ms | p50 ms email / SMS / Telegram | acknowledged | lost "
    "| p50 / baseline | p99 / baseline |\n|---|---|---|---|---|---|---|---|---|---|"
)


def _parameters() -> tuple[tuple[float, ...], float, tuple[int, ...]]:
    spec = os.environ.get("HELPLINE_BENCH_LATENCY")
    if not spec:
        return RATES, STEP_SECONDS, WORKER_COUNTS
    rates, seconds, workers = spec.split(";")
    return (
        tuple(float(r) for r in rates.split(",")),
        float(seconds),
        tuple(int(w) for w in workers.split(",")),
    )


def measure() -> dict[int, list[StepResult]]:
    rates, seconds, worker_counts = _parameters()
    results: dict[int, list[StepResult]] = {}
    for workers in worker_counts:
        desk = LiveDesk(workers).start()
        try:
            desk.offer(max(2.0, min(rates)), WARM_UP / max(2.0, min(rates)), wait=60)
            steps: list[StepResult] = []
            for rate in rates:
                # Wait as long as the backlog a saturated desk could build takes to drain, within bounds.
                step = desk.offer(rate, seconds, wait=WAIT_SECONDS)
                steps.append(step)
                print(f"  {workers} worker(s) {rate:g} msg/s: {_summary(step)}", flush=True)
                if percentile(step.all_latencies, 0.5) > SATURATED_P50_SECONDS:
                    break
                time.sleep(1)
            results[workers] = steps
        finally:
            desk.stop()
    return results


def _summary(step: StepResult) -> str:
    values = step.all_latencies
    return (
        f"p50 {percentile(values, 0.5) * 1000:.0f} ms, p99 {percentile(values, 0.99) * 1000:.0f} ms, "
        f"{len(values)}/{len(step.sent)} acknowledged, {step.refused} refused, {step.missing} missing"
    )


def _ms(value: float) -> str:
    return f"{value * 1000:,.0f}"


def main() -> str:
    load_before = os.getloadavg()[0]
    results = measure()
    _, seconds, _ = _parameters()
    base_workers = min(results)
    baseline = results[base_workers][0]
    base_p50 = percentile(baseline.all_latencies, 0.5) or 1e-9
    base_p99 = percentile(baseline.all_latencies, 0.99) or 1e-9
    rows = []
    saturation = []
    for workers, steps in sorted(results.items()):
        for step in steps:
            values = step.all_latencies
            p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
            per_channel = " / ".join(
                f"{_ms(percentile(step.latencies.get(c, []), 0.5))}" for c in ("email", "sms", "telegram")
            )
            lost = step.refused + step.missing
            rows.append(
                f"| {workers} | {step.rate:g} | {step.offered_rate:.0f} | {_ms(p50)} | {_ms(p99)} | {per_channel} "
                f"| {len(values)}/{len(step.sent)} | {lost} "
                f"| {fmt_ratio(p50 / base_p50)} | {fmt_ratio(p99 / base_p99)} |"
            )
        last_ok = [s.rate for s in steps if percentile(s.all_latencies, 0.5) <= SATURATED_P50_SECONDS]
        over = [s.rate for s in steps if percentile(s.all_latencies, 0.5) > SATURATED_P50_SECONDS]
        if over:
            saturation.append(
                f"{workers} worker(s): keeps up at {max(last_ok):g} msg/s, saturated at {min(over):g} msg/s"
                if last_ok
                else f"{workers} worker(s): saturated already at {min(over):g} msg/s"
            )
        else:
            saturation.append(f"{workers} worker(s): keeps up through {max(s.rate for s in steps):g} msg/s")
    target = []
    for workers, steps in sorted(results.items()):
        at_target = [s for s in steps if s.rate == TARGET_RATE]
        if not at_target:
            target.append(f"{workers} worker(s): not run at {TARGET_RATE:g} msg/s (saturated below it)")
            continue
        step = at_target[0]
        p50, p99 = percentile(step.all_latencies, 0.5), percentile(step.all_latencies, 0.99)
        lost = step.refused + step.missing
        verdict = "met" if p50 < TARGET_P50 and p99 < TARGET_P99 and lost == 0 else "**not met**"
        target.append(f"{workers} worker(s): p50 {_ms(p50)} ms, p99 {_ms(p99)} ms, {lost} lost: {verdict}")
    return f"""## End-to-end latency under a mixed load (`bench/bench_latency.py`)

Arrival (just before the client sends) to acknowledgement received by the provider fake, for email (SMTP in, the
acknowledgement to the SMTP relay sink), SMS (a signed Twilio webhook in, the acknowledgement through the twilio
library to the Messages API fake) and Telegram (a webhook update with its secret in, the acknowledgement through
python-telegram-bot to the Bot API fake), offered at once, in turn, on a fixed schedule (open loop), each message
from a new customer. Real processes: `helpline serve smtp`, `web`, `scheduler` and 1, 2 or 4 `worker`; a private
redis-server with `appendfsync always` and a private PostgreSQL with fsync on (the record). {seconds:g} s per step;
the acknowledgements are awaited up to {WAIT_SECONDS:g} s after a step, and a step whose p50 passes
{SATURATED_P50_SECONDS:g} s ends that worker count's run (saturated). **Baseline: the lowest step
({baseline.rate:g} msg/s) with {base_workers} worker(s), in the same run** (p50 {_ms(base_p50)} ms, p99
{_ms(base_p99)} ms); the ratio columns are against it. The load generator and the fakes run in the bench's own
process on the same 2 cores as the desk.

{HEADER}
{chr(10).join(rows)}

"lost" counts sends refused (a 4xx/5xx, which a real sender retries) plus accepted messages with no
acknowledgement within the wait. Machine load average (1 min, all users of these 2 cores) before and after the run:
{load_before:.1f} and {os.getloadavg()[0]:.1f}: the absolute figures shrink on a quiet machine.

Where it saturates: {"; ".join(saturation)}.

Target at {TARGET_RATE:g} msg/s mixed (p50 < {TARGET_P50 * 1000:.0f} ms, p99 < {TARGET_P99 * 1000:.0f} ms, nothing
lost): {"; ".join(target)}.
"""


if __name__ == "__main__":
    print(main())
