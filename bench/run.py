"""AWS calls per scenario, counted at the botocore boundary of the offline system.

    make bench            # prints the table, writes bench/results.json

Scenarios so far: create the 2048 stack, reconcile it again with nothing changed, add a
path, change the health check path, remove the path, scale the Deployment (targets
follow), delete. The deploy-engine issue adds the rest of the scenario set (certificate
change, group reorder, a 95-rule group, 50 groups) and its targets.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes import utils

from albatross.aws import clients
from albatross.controller import queues
from albatross.local.calls import INFRA, CallCounter, is_mutating
from albatross.local.demo import ingress_gone, ingress_hostname, tagged_resources
from albatross.local.system import LocalSystem, local_system

ROOT = Path(__file__).resolve().parent.parent
NS = NAME = "game-2048"


def idle(system: LocalSystem) -> bool:
    url = str(system.cloud.deployment.environment["WORK_QUEUE_URL"])
    attrs = clients.sqs().get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    running = [
        e
        for arn in system.cloud.deployment.state_machines
        for e in clients.sfn().list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]
    ]
    return not running and not system.dispatcher.busy() and all(v == "0" for v in attrs.values())


def targets(system: LocalSystem) -> int:
    elbv2 = clients.elbv2()
    return sum(
        len(elbv2.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"])
        for tg in elbv2.describe_target_groups()["TargetGroups"]
    )


def measure(
    system: LocalSystem, name: str, act: Callable[[], object], done: Callable[[], bool], changed: int
) -> dict[str, Any]:
    counter = CallCounter()
    started = time.monotonic()
    try:
        act()
        system.wait_for(name, done, timeout=120)
        system.wait_for(f"{name} to settle", lambda: idle(system), timeout=120)
    finally:
        counter.close()
    wall = time.monotonic() - started
    calls: Counter[tuple[str, str]] = counter.snapshot()
    infra = {(s, op): n for (s, op), n in calls.items() if s in INFRA}
    return {
        "scenario": name,
        "mutating_calls": sum(n for (_, op), n in infra.items() if is_mutating(op)),
        "read_calls": sum(n for (_, op), n in infra.items() if not is_mutating(op)),
        "changed_resources": changed,
        "listeners": 1,
        "wall_s": round(wall, 2),
        "calls": {op: n for (_, op), n in sorted(infra.items())},
        "other_calls": sum(n for (s, _), n in calls.items() if s not in INFRA),
    }


def main() -> int:
    results = []
    with local_system(ROOT) as system:
        net = k8s.NetworkingV1Api(system.api())
        apps = k8s.AppsV1Api(system.api())
        work = str(system.cloud.deployment.environment["WORK_QUEUE_URL"])
        results.append(
            measure(
                system,
                "create-2048",
                lambda: utils.create_from_yaml(system.api(), str(ROOT / "examples/2048/2048.yaml")),  # type: ignore[no-untyped-call]  # untyped in the client
                lambda: bool(ingress_hostname(system, NS, NAME)),
                changed=6,  # SG, TG, targets, LB, listener, rule
            )
        )
        results.append(
            measure(system, "no-op", lambda: queues.enqueue(work, [f"{NS}/{NAME}"], cause="bench"), lambda: True, 0)
        )
        base_path = {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": NAME, "port": {"number": 80}}}}
        new_path = {**base_path, "path": "/new"}

        def rule_count() -> int:
            elbv2 = clients.elbv2()
            [lb] = elbv2.describe_load_balancers()["LoadBalancers"]
            [listener] = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
            return sum(
                1 for r in elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"] if not r["IsDefault"]
            )

        def health_path() -> str:
            return str(clients.elbv2().describe_target_groups()["TargetGroups"][0]["HealthCheckPath"])

        results.append(
            measure(
                system,
                "add-path",
                lambda: net.patch_namespaced_ingress(
                    NAME, NS, {"spec": {"rules": [{"http": {"paths": [base_path, new_path]}}]}}
                ),
                lambda: rule_count() == 2,
                changed=2,  # the new rule, and "/" moved below it (longer prefixes first)
            )
        )
        results.append(
            measure(
                system,
                "change-health-check",
                lambda: net.patch_namespaced_ingress(
                    NAME, NS, {"metadata": {"annotations": {"alb.ingress.kubernetes.io/healthcheck-path": "/healthz"}}}
                ),
                lambda: health_path() == "/healthz",
                changed=1,
            )
        )
        results.append(
            measure(
                system,
                "remove-path",
                lambda: net.patch_namespaced_ingress(NAME, NS, {"spec": {"rules": [{"http": {"paths": [base_path]}}]}}),
                lambda: rule_count() == 1,
                changed=2,  # the rule deleted, and "/" moved back up
            )
        )
        results.append(
            measure(
                system,
                "scale-3-to-5",
                lambda: apps.patch_namespaced_deployment(NAME, NS, {"spec": {"replicas": 5}}),
                lambda: targets(system) == 5,
                changed=1,
            )
        )
        results.append(
            measure(
                system,
                "delete",
                lambda: net.delete_namespaced_ingress(NAME, NS),
                lambda: ingress_gone(system, NS, NAME) and not tagged_resources(system.cluster),
                changed=5,
            )
        )
    header = ("scenario", "mutating", "reads", "changed", "other", "wall s")
    rows = [
        (r["scenario"], r["mutating_calls"], r["read_calls"], r["changed_resources"], r["other_calls"], r["wall_s"])
        for r in results
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    for row in (header, *rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    (ROOT / "bench" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
