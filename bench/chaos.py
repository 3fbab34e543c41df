"""Seeded chaos through the whole offline system (issue 14's property): while users
create, edit, scale and delete Ingresses, the bus drops, duplicates, reorders and
replays deliveries and AWS throttles calls and loses responses
(:mod:`albatross.local.chaos`); then the chaos stops and the system must converge *by
itself* (the forwarder's periodic Resync, the queues' retries, the scheduled drift sweep,
fired on its schedule as EventBridge Scheduler would), with no redrive by a human:

* every live Ingress has its address, and AWS holds what its annotations ask for;
* no orphan (every resource tagged for the cluster belongs to a live group's load
  balancer stack), no duplicate load balancer, no Ingress stuck with a finalizer;
* every dead-letter queue empty.

``python -m bench.chaos --seeds 6`` prints one row per seed; the suite runs one seed
(tests/e2e/test_chaos.py).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from kubernetes import client as k8s

from albatross.aws import clients
from albatross.local.chaos import AwsChaos, BusChaos
from albatross.local.demo import ingress_hostname, tagged_resources
from albatross.local.manifests import apply, scale
from albatross.local.system import LocalSystem, local_system

ROOT = Path(__file__).resolve().parents[1]
A = "alb.ingress.kubernetes.io/"
DEAD_LETTER_QUEUES = (
    "WorkDeadLetterQueue",
    "UrgentWorkDeadLetterQueue",
    "TargetsDeadLetterQueue",
    "IngestDeadLetterQueue",
    "WritebackDeadLetterQueue",
)


def app(namespace: str, name: str, *, replicas: int = 2) -> list[dict[str, Any]]:
    """A Deployment and its Service (the local cluster runs its pods and endpoints)."""
    labels = {"app.kubernetes.io/name": name}
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [
                            {"name": "web", "image": "web", "ports": [{"name": "http", "containerPort": 80}]}
                        ]
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
        },
    ]


def ingress(namespace: str, name: str, path: str, annotations: Mapping[str, str]) -> dict[str, Any]:
    backend = {"service": {"name": name, "port": {"number": 80}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": {f"{A}scheme": "internet-facing", f"{A}target-type": "ip", **annotations},
        },
        "spec": {
            "ingressClassName": "alb",
            "rules": [{"http": {"paths": [{"path": path, "pathType": "Prefix", "backend": backend}]}}],
        },
    }


@dataclass(frozen=True)
class Want:
    """What one live Ingress should end with."""

    namespace: str
    name: str
    path: str
    deregistration_delay: str
    replicas: int


@dataclass
class Outcome:
    seed: int
    converged_s: float = 0.0
    load_balancers: int = 0
    orphans: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    dead_letters: dict[str, int] = field(default_factory=dict)
    wrong: list[str] = field(default_factory=list)
    chaos: dict[str, int] = field(default_factory=dict)
    drift_sweeps: int = 0


def _namespaces(system: LocalSystem, names: list[str]) -> None:
    apply(system.kube.url, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in names])


@contextmanager
def _scheduler(system: LocalSystem, every: float, fired: list[int]) -> Iterator[None]:
    """The drift sweep on its schedule (EventBridge Scheduler's rate, scaled), as AWS would
    run it; ``albatross local`` fires schedules only when asked."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            try:
                system.dispatcher.fire("DriftFunctionDrift")
                fired[0] += 1
            except Exception:  # noqa: BLE001, S112  # a sweep that fails runs again at the next tick, as on AWS
                continue

    thread = threading.Thread(target=loop, name="scheduler", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def workload(system: LocalSystem, rng: random.Random, pause: Callable[[], None]) -> dict[str, Want]:
    """Users at work: three groups made, edited, scaled, one Ingress deleted; returns
    what each live Ingress should end with."""
    net = k8s.NetworkingV1Api(system.api())
    _namespaces(system, ["shop", "blog", "tmp"])
    shop = {f"{A}group.name": "shop"}
    apply(system.kube.url, [*app("shop", "cart"), *app("shop", "pay"), *app("blog", "blog"), *app("tmp", "tmp")])
    pause()
    apply(
        system.kube.url,
        [
            ingress("shop", "cart", "/cart", {**shop, f"{A}group.order": "1"}),
            ingress("shop", "pay", "/pay", {**shop, f"{A}group.order": "2"}),
            ingress("blog", "blog", "/", {}),
            ingress("tmp", "tmp", "/", {}),
        ],
    )
    pause()
    delay = str(rng.choice([30, 45, 60, 90]))
    net.patch_namespaced_ingress(
        "blog",
        "blog",
        {"metadata": {"annotations": {f"{A}target-group-attributes": f"deregistration_delay.timeout_seconds={delay}"}}},
    )
    pause()
    replicas = rng.choice([1, 3, 4])
    scale(system.kube.url, "shop/cart", replicas)
    pause()
    net.patch_namespaced_ingress(
        "pay",
        "shop",
        {
            "spec": {
                "rules": [
                    {
                        "http": {
                            "paths": [
                                {
                                    "path": "/checkout",
                                    "pathType": "Prefix",
                                    "backend": {"service": {"name": "pay", "port": {"number": 80}}},
                                }
                            ]
                        }
                    }
                ]
            }
        },
    )
    pause()
    net.delete_namespaced_ingress("tmp", "tmp")
    pause()
    return {
        "shop/cart": Want("shop", "cart", "/cart", "300", replicas),
        "shop/pay": Want("shop", "pay", "/checkout", "300", 2),
        "blog/blog": Want("blog", "blog", "/", delay, 2),
    }


def _arns_of(lb_arn: str) -> set[str]:
    """What a load balancer's stack holds: itself, its listeners and rules, the target
    groups they forward to, its security groups (``security-group/<id>``). Read from the
    rules, not from a target group's ``LoadBalancerArns`` (moto's bookkeeping of it can
    lose a load balancer whose rule was replaced)."""
    elbv2 = clients.elbv2()
    found = {lb_arn}
    for listener in elbv2.describe_listeners(LoadBalancerArn=lb_arn)["Listeners"]:
        found.add(listener["ListenerArn"])
        found |= _forwards_to({"Actions": listener.get("DefaultActions", [])})
        for rule in elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]:
            found.add(rule["RuleArn"])
            found |= _forwards_to(rule)
    [lb] = elbv2.describe_load_balancers(LoadBalancerArns=[lb_arn])["LoadBalancers"]
    found |= {f"security-group/{sg}" for sg in lb.get("SecurityGroups", [])}
    return found


def _paths_to(arn: str, live: list[str]) -> list[str]:
    """The path patterns of the rules of the live load balancers that forward to ``arn``."""
    elbv2 = clients.elbv2()
    return [
        v
        for lb in live
        for listener in elbv2.describe_listeners(LoadBalancerArn=lb)["Listeners"]
        for rule in elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
        if arn in _forwards_to(rule)
        for c in rule["Conditions"]
        for v in c.get("PathPatternConfig", {}).get("Values", c.get("Values", []))
    ]


def _mismatches(system: LocalSystem, wants: Mapping[str, Want]) -> list[str]:
    """What AWS and the cluster still disagree on (empty: converged)."""
    wrong: list[str] = []
    elbv2 = clients.elbv2()
    for key, want in wants.items():
        if not ingress_hostname(system, want.namespace, want.name):
            wrong.append(f"{key}: no address")
            continue
        groups = [
            tg
            for tg in elbv2.describe_target_groups()["TargetGroups"]
            if any(
                t["Key"] == "ingress.k8s.aws/resource"
                and t["Value"].startswith(f"{want.namespace}/{want.name}-{want.name}:")
                for t in _tags(tg["TargetGroupArn"])
            )
        ]
        if len(groups) != 1:
            wrong.append(f"{key}: {len(groups)} target groups")
            continue
        arn = groups[0]["TargetGroupArn"]
        attributes = {
            a["Key"]: a["Value"] for a in elbv2.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]
        }
        if attributes.get("deregistration_delay.timeout_seconds") != want.deregistration_delay:
            wrong.append(f"{key}: deregistration delay {attributes.get('deregistration_delay.timeout_seconds')}")
        targets = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
        if len(targets) != want.replicas:
            wrong.append(f"{key}: {len(targets)} targets, not {want.replicas}")
        paths = _paths_to(arn, _ours(system.cluster))
        if not any(p.startswith(want.path) for p in paths):
            wrong.append(f"{key}: no rule for {want.path} ({paths})")
    return wrong


def _forwards_to(rule: Mapping[str, Any]) -> set[str]:
    """The target groups a rule's actions forward to (either way AWS writes it)."""
    found = set()
    for action in rule.get("Actions", []):
        found |= {action["TargetGroupArn"]} if action.get("TargetGroupArn") else set()
        found |= {t["TargetGroupArn"] for t in (action.get("ForwardConfig") or {}).get("TargetGroups", [])}
    return found


def _tags(arn: str) -> list[dict[str, str]]:
    return [
        {"Key": t["Key"], "Value": t.get("Value", "")}
        for t in clients.elbv2().describe_tags(ResourceArns=[arn])["TagDescriptions"][0]["Tags"]
    ]


def _ours(cluster: str) -> list[str]:
    """The load balancers tagged for the cluster."""
    return [a for a in tagged_resources(cluster) if ":loadbalancer/app/" in a]


def _stuck(system: LocalSystem) -> list[str]:
    """Ingresses being deleted that still exist (their finalizer not released)."""
    items = k8s.NetworkingV1Api(system.api()).list_ingress_for_all_namespaces().items
    return [f"{i.metadata.namespace}/{i.metadata.name}" for i in items if i.metadata and i.metadata.deletion_timestamp]


def _dead_letters(system: LocalSystem) -> dict[str, int]:
    out = {}
    for logical in DEAD_LETTER_QUEUES:
        url = system.cloud.deployment.attributes.get(logical, {}).get("QueueUrl")
        if not url:
            continue
        attrs = clients.sqs().get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        out[logical] = int(attrs["Attributes"]["ApproximateNumberOfMessages"])
    return out


def _orphans(system: LocalSystem, live: list[str]) -> list[str]:
    """Tagged resources that no live load balancer's stack holds."""
    held: set[str] = set()
    for lb in live:
        held |= _arns_of(lb)
    return [a for a in tagged_resources(system.cluster) if a not in held and a.rpartition(":")[2] not in held]


def run(system: LocalSystem, seed: int, *, timeout: float = 240.0, pause_s: float = 1.5) -> Outcome:
    """One seeded run against a running offline system (a fresh one per seed)."""
    rng = random.Random(seed)  # noqa: S311  # a test's workload, not cryptography
    bus, aws = BusChaos(seed), AwsChaos(seed)
    outcome = Outcome(seed=seed)
    fired = [0]
    system.dispatcher.deliveries = bus.deliveries
    with _scheduler(system, every=10.0, fired=fired):
        with aws.running():
            wants = workload(system, rng, lambda: time.sleep(pause_s))
            time.sleep(pause_s * 4)  # chaos goes on a while after the users stop
        bus.calm()
        started = time.monotonic()

        def settled() -> bool:
            try:
                live = _ours(system.cluster)
                return (
                    len(live) == 2
                    and not _stuck(system)
                    and not _mismatches(system, wants)
                    and not _orphans(system, live)
                )
            except ClientError:  # read while a resource went away: not settled yet
                return False

        with suppress(TimeoutError):  # what is still wrong is reported below
            system.wait_for("convergence", settled, timeout=timeout, interval=2.0)
        outcome.converged_s = time.monotonic() - started
    for attempt in range(5):  # a final look that does not race a resource going away
        try:
            live = _ours(system.cluster)
            outcome.load_balancers = len(live)
            outcome.orphans = _orphans(system, live)
            outcome.stuck = _stuck(system)
            outcome.wrong = _mismatches(system, wants)
            break
        except ClientError as e:
            outcome.wrong = [f"unreadable: {e}"]
            time.sleep(attempt + 1)
    outcome.dead_letters = _dead_letters(system)
    outcome.chaos = {f"bus_{k}": v for k, v in bus.tally.row().items() if v} | {
        f"aws_{k}": v for k, v in aws.tally.row().items() if v
    }
    outcome.drift_sweeps = fired[0]
    return outcome


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--first", type=int, default=1)
    args = parser.parse_args(argv)
    failed = 0
    head = f"{'seed':>4} {'converged':>10} {'ALBs':>4} {'orphans':>7} {'stuck':>5} {'DLQ':>3} {'drift':>5}"
    print(f"{head}  chaos / what is wrong")
    for seed in range(args.first, args.first + args.seeds):
        with (
            tempfile.TemporaryDirectory() as work,
            local_system(ROOT, work_dir=Path(work), forwarder_env={"RESYNC_SECONDS": "5"}) as system,
        ):
            o = run(system, seed)
        bad = o.load_balancers != 2 or o.orphans or o.stuck or o.wrong or any(o.dead_letters.values())
        failed += bool(bad)
        print(
            f"{seed:>4} {o.converged_s:>9.0f}s {o.load_balancers:>4} {len(o.orphans):>7} {len(o.stuck):>5} "
            f"{sum(o.dead_letters.values()):>3} {o.drift_sweeps:>5}  {o.chaos} {o.wrong or ''}"
        )
    print(f"{args.seeds - failed}/{args.seeds} seeds converged with no manual redrive")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
