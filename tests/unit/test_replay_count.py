"""``albatross replay`` counts the events that reached ingest from ingest's log lines,
which CloudWatch Logs shows seconds to a minute late: a count of 0 is no answer before
that bound has passed, and a count still growing when the command stops following it is
reported as a lower bound. A fake clock and reader: no real sleeps."""

from __future__ import annotations

from collections.abc import Iterator

from albatross.cli.replay import _settled, summary


class Fake:
    """A clock that only ``sleep`` moves, and a reader that gives ``counts`` in turn
    (the last one from then on)."""

    def __init__(self, counts: list[int | None]) -> None:
        self.now = 1000.0
        self.reads = 0
        self._counts: Iterator[int | None] = iter(counts)
        self._last = counts[-1]
        self.progress: list[str] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def count(self) -> int | None:
        self.reads += 1
        return next(self._counts, self._last)

    def settle(self, *, settle: float = 60.0, lag: float = 30.0) -> tuple[int | None, str]:
        return _settled(
            self.count,
            interval=2.0,
            settle=settle,
            lag=lag,
            progress=self.progress.append,
            clock=self.clock,
            sleep=self.sleep,
        )


def test_zero_twice_is_not_settled_while_the_logs_may_still_come() -> None:
    fake = Fake([0, 0, 0, 0, 0, 3, 7, 7])
    assert fake.settle() == (7, "all")
    assert fake.reads == 12  # past the two zeros 2 s apart that used to end it, then 10 s of 7


def test_zero_until_the_bound_is_not_yet_counted() -> None:
    fake = Fake([0])
    assert fake.settle(lag=30.0) == (0, "not yet")
    assert fake.now - 1000.0 == 30.0  # read every 2 s until the bound, no longer
    assert fake.reads == 16


def test_a_count_still_growing_when_settle_passes_is_a_lower_bound() -> None:
    fake = Fake(list(range(1, 100)))
    assert fake.settle(settle=10.0) == (6, "at least")


def test_a_count_that_stops_growing_is_all() -> None:
    fake = Fake([4, 4])
    assert fake.settle() == (4, "all")
    assert fake.now - 1000.0 == 10.0  # unchanged for QUIET_SECONDS


def test_a_count_unchanged_for_one_poll_is_not_all_yet() -> None:
    """Lines that CloudWatch Logs delivers late come after a pause: the count then grows."""
    assert Fake([4, 4, 4, 9, 9]).settle() == (9, "all")


def test_no_ingest_log_group_is_no_count() -> None:
    fake = Fake([None])
    assert fake.settle() == (None, "all")
    assert fake.now == 1000.0


DONE = {"replay": "albatross-1", "state": "COMPLETED", "seconds": 3.0, "from": "A", "to": "B", "reason": ""}


def test_the_summary_says_when_the_count_may_be_incomplete() -> None:
    ends = {
        (7, "all"): "; 7 reached ingest",
        (7, "at least"): "; at least 7 reached ingest (still growing when counting stopped)",
        (0, "not yet"): "; none counted at ingest yet (CloudWatch Logs may not have delivered its lines)",
        (None, "all"): "",
    }
    for (events, counted), end in ends.items():
        line = summary({**DONE, "events": events, "counted": counted})
        assert line == "replay albatross-1 COMPLETED in 3.0s: events of A to B" + end, (events, counted)
