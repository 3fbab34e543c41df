"""The fuzz property of issue 14, in ``make test``: Ingresses (with their Services,
IngressClass and IngressClassParams) carrying hostile annotation values and spec shapes
never make the Kubernetes views, the contract's helpers, ingest's parse of a change or
``plan --offline`` (hence the builder) raise, and with one hostile annotation every error
names it (or what it is checked against). The generator and the checks are
:mod:`bench.fuzz`'s; ``python -m bench.fuzz`` runs 10,000 manifests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from albatross.model import rules
from bench import fuzz

T = TypeVar("T")


class Draws:
    """A :class:`bench.fuzz.Chooser` drawing from hypothesis, so failures shrink."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data

    def pick(self, options: Sequence[T]) -> T:
        return self.data.draw(st.sampled_from(options))

    def number(self, low: int, high: int) -> int:
        return self.data.draw(st.integers(low, high))


def findings(manifests: Sequence[fuzz.Manifest]) -> fuzz.Findings:
    found = fuzz.Findings()
    for m in manifests:
        fuzz.check(m, found)
    return found


@settings(
    max_examples=300,
    derandomize=True,  # the same examples on every run: a failure here is a failure every time
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.data())
def test_hostile_manifests_never_crash_and_errors_name_their_annotation(data: st.DataObject) -> None:
    found = findings([fuzz.manifest(Draws(data))])
    assert found.crashes == []
    assert found.unattributed == []


def test_every_annotation_with_every_hostile_value() -> None:
    """The sweep: each annotation name with each hostile text, each field of each JSON
    configuration with each hostile JSON value, alone on a clean group (what the
    Kubernetes views and the contract see is covered by the random manifests)."""
    found = fuzz.Findings()
    manifests = fuzz.sweep()
    for m in manifests:
        fuzz.check_plan(m, found)
    assert len(manifests) > 2000
    assert found.crashes == []
    assert found.unattributed == []


def test_the_seeded_generator_the_benchmark_runs() -> None:
    found = findings(fuzz.generate(seed=14, count=300))
    assert found.manifests == 300
    assert found.crashes == []
    assert found.unattributed == []
    # the generator reaches the annotations and objects it is meant to: errors naming
    # annotations of every kind of value, invalid objects, unreadable Services
    named = set(found.errors)
    assert {"actions.split", "listen-ports", "healthcheck-port", "group.order"} <= named
    assert any(n.startswith("invalid ") for n in named)


def test_the_checks_catch_a_defect_the_builder_swallows(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that cannot fail is a defect: plant one where the builder's last line of
    defence catches it, and one in a view."""

    def broken(*_: Any) -> Any:
        raise KeyError("planted")

    monkeypatch.setattr(rules, "conditions", broken)
    found = findings(fuzz.generate(seed=14, count=5))
    assert found.crashes
    assert all("unexpected KeyError" in c for c in found.crashes)


def test_the_checks_catch_a_view_that_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any) -> Any:
        raise TypeError("planted")

    monkeypatch.setitem(fuzz.VIEWS, "Service", broken)
    found = findings(fuzz.generate(seed=14, count=3))
    assert any(c.startswith("k8s view of Service: TypeError") for c in found.crashes)


def test_the_benchmark_prints_its_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert fuzz.main(["--manifests", "40", "--seed", "3", "--no-sweep"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("manifests     40\n")
    assert "crashes       0" in out
