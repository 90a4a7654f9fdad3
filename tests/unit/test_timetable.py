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
