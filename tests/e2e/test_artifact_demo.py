"""The demo on the artifact we ship: every function (ingest, reconcile, the Step Functions
tasks, the targets fast path) runs from the ``make package`` build in processes of the
template's Python, as Lambda runs it; the forwarder, the bus and the queues as in the
demo. An Ingress whose rule rewrites its URL (``Transforms``, which only newer botocore
knows; moto ignores it, botocore checks it) gets its load balancer, its address and its
targets with no failed step, and everything goes when it is deleted: every parameter the
model sends went through the layer's own botocore."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client as k8s

from albatross.aws import clients
from albatross.local.demo import ingress_gone, ingress_hostname, tagged_resources
from albatross.local.system import LocalSystem, local_system
from tests.artifact import built
from tests.e2e.test_slice import apply, events_for, executions

ROOT = Path(__file__).resolve().parents[2]
NS = NAME = "game-2048"
ANNOTATION = "alb.ingress.kubernetes.io/"
REWRITE = [{"type": "url-rewrite", "urlRewriteConfig": {"rewrites": [{"regex": "^/game/(.*)$", "replace": "/$1"}]}}]


@pytest.fixture
def system(tmp_path: Path) -> Iterator[LocalSystem]:
    with local_system(ROOT, work_dir=tmp_path, build=built(), log_level="INFO") as running:
        yield running


def with_rewrite(tmp_path: Path) -> Path:
    """examples/2048 with a URL rewrite on its rule."""
    docs = list(yaml.safe_load_all((ROOT / "examples/2048/2048.yaml").read_text()))
    for doc in docs:
        if doc and doc["kind"] == "Ingress":
            doc["metadata"]["annotations"][f"{ANNOTATION}transforms.game-2048"] = json.dumps(REWRITE)
    path = tmp_path / "2048-rewrite.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    return path


def test_the_demo_runs_on_the_built_artifact(system: LocalSystem, tmp_path: Path) -> None:
    apply(system, with_rewrite(tmp_path))

    def warnings() -> list[tuple[str, str, str]]:
        return [e for e in events_for(system, NS, NAME) if e[0] == "Warning"]

    system.wait_for("the Ingress address or a Warning", lambda: ingress_hostname(system, NS, NAME) or warnings(), 90)
    # CreateRule carried Transforms through the layer's botocore: nothing warned, nothing failed
    assert warnings() == []
    hostname = ingress_hostname(system, NS, NAME)
    system.wait_for("provision to end", lambda: "RUNNING" not in executions(system, "ProvisionStateMachineArn"))
    assert set(executions(system, "ProvisionStateMachineArn")) == {"SUCCEEDED"}

    elbv2 = clients.elbv2()
    [lb] = elbv2.describe_load_balancers()["LoadBalancers"]
    assert lb["DNSName"] == hostname
    # an Ingress that arrived before its Service got the 503 of a missing backend first (as
    # LBC tolerates it); the Service's arrival then adds the target group, in place
    [tg] = system.wait_for("the target group", lambda: elbv2.describe_target_groups()["TargetGroups"])
    system.wait_for(
        "three targets",
        lambda: len(elbv2.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]) == 3,
    )
    assert warnings() == []  # nor the rule made in place, if it came after the Service

    k8s.NetworkingV1Api(system.api()).delete_namespaced_ingress(NAME, NS)
    system.wait_for("the Ingress to be released", lambda: ingress_gone(system, NS, NAME), timeout=90)
    system.wait_for("nothing tagged for the cluster", lambda: not tagged_resources(system.cluster), timeout=60)
    system.wait_for("teardown to end", lambda: "RUNNING" not in executions(system, "TeardownStateMachineArn"))
    assert executions(system, "TeardownStateMachineArn") == ["SUCCEEDED"]
