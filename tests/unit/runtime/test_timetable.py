"""The daemon's timetable: due feeds come out earliest first, each once, whatever was rescheduled or removed."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from crawler.runtime.timetable import MAX_ENTRIES_PER_FEED, Timetable

NAMES = st.sampled_from([f"feed-{n}" for n in range(12)])
TIMES = st.integers(min_value=0, max_value=50).map(float)
OPS = st.lists(st.one_of(
    st.tuples(st.just("set"), NAMES, TIMES),
    st.tuples(st.just("remove"), NAMES, TIMES),
    st.tuples(st.just("pop"), NAMES, TIMES),
), max_size=80)


@given(OPS)
def test_the_timetable_behaves_as_a_dict_of_due_times(ops: list[tuple[str, str, float]]) -> None:
    table, model = Timetable(), {}
    for op, name, when in ops:
        if op == "set":
            table.set(name, when)
            model[name] = when
        elif op == "remove":
            table.remove(name)
            model.pop(name, None)
        else:
            due = sorted((t, n) for n, t in model.items() if t <= when)
            got = table.pop_due(when)
            assert sorted(got) == sorted(n for _, n in due)
            assert [model[n] for n in got] == sorted(model[n] for n in got), "earliest first"
            for name_due in got:
                del model[name_due]
        assert len(table) == len(model)
        assert table.earliest() == (min(model.values()) if model else None)


def test_rescheduling_one_feed_over_and_over_keeps_the_heap_small() -> None:
    table = Timetable()
    table.fill([(float(n), f"feed-{n}") for n in range(1000)])
    for step in range(100_000):
        table.set("feed-7", 2000.0 + step)
    assert len(table._heap) <= MAX_ENTRIES_PER_FEED * len(table) + 64
    assert table.pop_due(1500.0) == [f"feed-{n}" for n in range(1000) if n != 7]


def test_the_daemon_s_one_job_hands_over_due_feeds_in_order_and_schedules_them_again() -> None:
    import asyncio
    import time
    from datetime import UTC, datetime

    from crawler.daemon import Schedule
    from crawler.models import FeedSource

    sources = {name: FeedSource(name, f"http://127.0.0.1:9/{name}", interval=3600.0) for name in "abcd"}

    async def main() -> tuple[list[str], Schedule, float]:
        handed: list[str] = []
        all_three = asyncio.Event()

        def submit(name: str) -> None:
            handed.append(name)
            if len(handed) == 3:
                all_three.set()

        schedule = Schedule(submit, sources.get)
        now = time.time()
        schedule.start([(now + 0.2, "b"), (now + 0.1, "a"), (now + 3600, "c"), (now + 0.15, "d")])
        schedule.remove("d")  # a reload took it out of the config
        schedule.set("c", datetime.fromtimestamp(now + 0.3, UTC))  # earlier than it was: the job wakes for it
        await asyncio.wait_for(all_three.wait(), timeout=10)
        schedule.shutdown()
        return handed, schedule, now

    handed, schedule, now = asyncio.run(main())
    assert handed == ["a", "b", "c"]
    # Handed over, each is due again an interval later, until its poll says otherwise.
    for name in "abc":
        due = schedule._table.due(name)
        assert due is not None and now + 3600 <= due <= now + 3600 + 15
    assert "d" not in schedule._table
