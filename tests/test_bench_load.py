"""The latency and memory benchmarks' own arithmetic: no desk is started here (that takes longer than a test should;
`HELPLINE_BENCH_LATENCY="5;2;1" python -m bench.bench_latency` is the smoke run)."""

from __future__ import annotations

from bench.bench_memory import Census, _family, _report
from bench.live_desk import letters, percentile
from workers.reply_caps import address_shape


def test_the_bench_customers_are_distinct_people_to_the_auto_reply_caps() -> None:
    addresses = [f"cust-{letters(n)}@example.com" for n in range(1, 2000)]
    assert len({address_shape(a) for a in addresses}) == len(addresses)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([], 0.5) == 0.0


def test_key_families() -> None:
    assert _family("hl:msg:m-1") == "msg"
    assert _family("rq:job:process-m-1") == "rq:job"
    assert _family("hl:dedupe:email:<a@b>") == "dedupe"
    assert _family("hl:messages") == "messages"


def test_the_sizing_scales_what_is_kept_for_good_per_day_and_what_retention_holds_by_its_days() -> None:
    before = Census({}, {}, used_memory=1_000_000)
    after = Census(
        {("for good", "msg"): 1000 * 100, ("retention (days)", "raw"): 1000 * 50},
        {"msg": -1, "raw": 30 * 86400},
        used_memory=1_000_000 + 1000 * 150,
    )
    report = _report(30, 14, 2, 1000, 1000, 0, {"web": [2048]}, {"web": [1024]}, before, after,
                     {"messages": 0}, {"messages": 1000 * 300})  # fmt: skip
    assert "| web | 1.0 | 2.0 | 2.00× |" in report
    assert "| `msg` | for good | 100 |" in report
    assert "PostgreSQL per message** (`pg_total_relation_size`, tables with their indexes and TOAST): 300 B" in report
    # 10k/day: 100 B × 10k = 1 MB a day kept for good; 50 B × 10k × 30 days = 15 MB under retention; PG 3 MB a day.
    assert "| 10,000 | 1.0 MB | 15.0 MB | 380.0 MB | 3.0 MB | 1.1 GB |" in report
