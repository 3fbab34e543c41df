"""Issue 14's chaos property, one seed in the suite (``python -m bench.chaos`` runs more):
with bus deliveries dropped, duplicated, reordered and replayed, and AWS throttling and
losing responses while users work, the system converges by itself once the chaos stops:
no manual redrive, no orphan, no duplicate load balancer, no stuck finalizer, every
dead-letter queue empty."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from albatross.local.system import LocalSystem, local_system
from bench import chaos

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def chaotic(tmp_path: Path) -> Iterator[LocalSystem]:
    # a Resync every 5 s: the forwarder's periodic word is how lost deliveries heal
    with local_system(ROOT, work_dir=tmp_path, forwarder_env={"RESYNC_SECONDS": "5"}) as running:
        yield running


@pytest.mark.timeout(600)
def test_a_seeded_chaos_run_converges_with_no_manual_redrive(chaotic: LocalSystem) -> None:
    outcome = chaos.run(chaotic, seed=2)  # before Resyncs carried versions: shop/pay never joined
    assert outcome.chaos.get("bus_dropped"), outcome.chaos  # the chaos did bite
    assert outcome.chaos.get("aws_throttled"), outcome.chaos
    assert outcome.wrong == []
    assert outcome.load_balancers == 2  # shop and blog; tmp's went with its Ingress
    assert outcome.orphans == []
    assert outcome.stuck == []
    assert not any(outcome.dead_letters.values()), outcome.dead_letters
