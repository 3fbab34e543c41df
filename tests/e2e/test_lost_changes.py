"""A change whose bus delivery is lost is healed by the next Resync, with no manual
redrive (issue 14, item 8): the forwarder's PutEvents succeeded, EventBridge's delivery
to ingest did not. The Resync lists what the forwarder last sent of each key, ingest
finds what it holds older and asks for it on the write-back queue, and the forwarder
reads and sends it again. Here the lost change is first an annotation (the target
group's health check path), then the deletion (the update that sets
``deletionTimestamp``, while the finalizer holds the Ingress): both reach AWS."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from albatross.aws import clients
from albatross.local.system import LocalSystem, local_system
from tests.e2e.test_restore import ingress_exists
from tests.e2e.test_slice import NAME, NS, ready_2048

ROOT = Path(__file__).resolve().parents[2]
HEALTHCHECK_PATH = "alb.ingress.kubernetes.io/healthcheck-path"


@pytest.fixture
def system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalSystem]:
    """The offline system, its forwarder sending a Resync every two seconds instead of
    every ten minutes (what heals is the next Resync, whenever it comes)."""
    monkeypatch.setenv("RESYNC_SECONDS", "2")
    with local_system(ROOT, work_dir=tmp_path) as running:
        yield running


class LoseOne:
    """The bus loses the first delivery of an Ingress change ``picks`` says yes to; every
    other event is delivered once (the dispatcher's ``deliveries`` hook)."""

    def __init__(self, picks: Callable[[dict[str, Any]], bool]) -> None:
        self.picks = picks
        self.lost: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        detail = event.get("detail") or {}
        with self._lock:
            if not self.lost and detail.get("kind") == "Ingress" and self.picks(detail):
                self.lost.append(detail)
                return []
        return [event]


def health_check_paths() -> list[str]:
    return [str(tg["HealthCheckPath"]) for tg in clients.elbv2().describe_target_groups()["TargetGroups"]]


def resends_logged(system: LocalSystem) -> int:
    """Resend write-backs the forwarder handled (its log line per message)."""
    return sum(1 for line in system.log_path.read_text().splitlines() if " resend: " in line)


def test_lost_changes_are_sent_again_after_the_next_resync(system: LocalSystem) -> None:
    ready_2048(system)
    net = k8s.NetworkingV1Api(system.api())
    assert health_check_paths() == ["/"]
    handled = resends_logged(system)

    # 1. an annotation change: its delivery is lost, the next Resync's answer brings it
    lose = LoseOne(lambda d: HEALTHCHECK_PATH in ((d.get("object") or {}).get("metadata") or {}).get("annotations", {}))
    system.dispatcher.deliveries = lose
    net.patch_namespaced_ingress(NAME, NS, {"metadata": {"annotations": {HEALTHCHECK_PATH: "/healthz"}}})
    system.wait_for("the change lost", lambda: lose.lost, timeout=60)
    system.wait_for("the health check path in AWS", lambda: health_check_paths() == ["/healthz"], timeout=90)
    assert resends_logged(system) > handled
    handled = resends_logged(system)

    # 2. the deletion: the update that sets deletionTimestamp is lost, and the Ingress,
    # held by its finalizer, would stay Terminating for ever
    lose = LoseOne(lambda d: bool(((d.get("object") or {}).get("metadata") or {}).get("deletionTimestamp")))
    system.dispatcher.deliveries = lose
    net.delete_namespaced_ingress(NAME, NS)
    system.wait_for("the deletion lost", lambda: lose.lost, timeout=60)
    system.wait_for(
        "the load balancer gone", lambda: not clients.elbv2().describe_load_balancers()["LoadBalancers"], timeout=120
    )
    system.wait_for("the finalizer removed and the Ingress gone", lambda: not ingress_exists(system), timeout=60)
    assert resends_logged(system) > handled
    [lost] = lose.lost
    assert lost["action"] == "upsert"  # what was lost is the update, not the delete that follows the finalizer
