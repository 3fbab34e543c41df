"""``albatross local demo``: the 2048 example end to end, offline, with what a user wants
to see: the load balancer, listeners, rules, target groups and their targets, and the
Ingress as ``kubectl get ingress`` shows it; then the deletion, and nothing left."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes import utils

from albatross.aws import clients
from albatross.aws.calls import CallCounter
from albatross.controller import queues
from albatross.local.system import LocalSystem, local_system
from albatross.model.names import TAG_CLUSTER

EXAMPLE = Path("examples/2048/2048.yaml")
NAMESPACE = NAME = "game-2048"

Print = Callable[[str], None]


def ingress_hostname(system: LocalSystem, namespace: str, name: str) -> str | None:
    ing = k8s.NetworkingV1Api(system.api()).read_namespaced_ingress(name, namespace)
    lb = ing.status.load_balancer if ing.status else None
    return lb.ingress[0].hostname if lb and lb.ingress else None


def ingress_gone(system: LocalSystem, namespace: str, name: str) -> bool:
    try:
        k8s.NetworkingV1Api(system.api()).read_namespaced_ingress(name, namespace)
    except k8s.exceptions.ApiException as e:
        return bool(e.status == 404)
    return False


def tagged_resources(cluster: str) -> list[str]:
    """Every ARN still tagged for the cluster (load balancers, target groups, SGs)."""
    pages = (
        clients.tagging()
        .get_paginator("get_resources")
        .paginate(TagFilters=[{"Key": TAG_CLUSTER, "Values": [cluster]}])
    )
    return [r["ResourceARN"] for p in pages for r in p["ResourceTagMappingList"]]


def kubectl_get_ingress(system: LocalSystem, namespace: str) -> list[str]:
    rows = [("NAME", "CLASS", "HOSTS", "ADDRESS", "PORTS", "AGE")]
    for ing in k8s.NetworkingV1Api(system.api()).list_namespaced_ingress(namespace).items:
        spec = ing.spec or k8s.V1IngressSpec()
        hosts = ",".join(r.host for r in spec.rules or [] if r.host) or "*"
        lb = ing.status.load_balancer.ingress if ing.status and ing.status.load_balancer else None
        address = ",".join(e.hostname or e.ip or "" for e in lb or [])
        ports = "443" if spec.tls else "80"
        name = ing.metadata.name if ing.metadata else ""
        rows.append((str(name), str(spec.ingress_class_name or "<none>"), hosts, address, ports, "0s"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["   ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def describe_stack(stack: str, cluster: str) -> list[str]:
    """A readable picture of one stack: LB, listeners, rules, target groups, targets."""
    from albatross.aws import discovery  # the same discovery the controller uses

    elbv2 = clients.elbv2()
    actual = discovery.find_stack(cluster=cluster, stack_id=stack)
    lines: list[str] = []
    tg_names = {r.physical_id: str(r.properties["Name"]) for r in actual.resources if r.type.endswith("TargetGroup")}
    for r in actual.resources:
        p = r.properties
        if r.type.endswith("::LoadBalancer"):
            lines.append(f"Load balancer  {p['Name']} ({p['Scheme']}, {p['State']})")
            lines.append(f"  DNS name     {p['DNSName']}")
            lines.append(f"  subnets      {', '.join(p['Subnets'])}; security groups {', '.join(p['SecurityGroups'])}")
        elif r.type.endswith("::Listener"):
            lines.append(
                f"Listener       {p['Protocol']}:{p['Port']}  default: {_action(p['DefaultActions'][0], tg_names)}"
            )
        elif r.type.endswith("::ListenerRule"):
            conds = "; ".join(f"{c['Field']}={','.join(_values(c))}" for c in p["Conditions"])
            lines.append(f"  rule {p['Priority']:>4}    {conds} -> {_action(p['Actions'][0], tg_names)}")
    for arn, name in sorted(tg_names.items(), key=lambda kv: kv[1]):
        health = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
        targets = ", ".join(f"{t['Target']['Id']}:{t['Target']['Port']}" for t in health) or "(none)"
        lines.append(f"Target group   {name}: {len(health)} targets {targets}")
    return lines


def _values(cond: dict[str, Any]) -> list[str]:
    for key, value in cond.items():
        if key.endswith("Config") and isinstance(value, dict) and "Values" in value:
            return [str(v) for v in value["Values"]]
    return [str(v) for v in cond.get("Values", [])]


def _action(action: dict[str, Any], tg_names: dict[str, str]) -> str:
    if action["Type"] == "forward":
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or [
            {"TargetGroupArn": action.get("TargetGroupArn")}
        ]
        return "forward to " + ", ".join(tg_names.get(g["TargetGroupArn"], g["TargetGroupArn"]) for g in groups)
    if action["Type"] == "fixed-response":
        return f"fixed response {action['FixedResponseConfig']['StatusCode']}"
    return str(action["Type"])


def run_demo(root: Path, *, out: Print = print, timeout: float = 60.0, time_scale: float = 0.05) -> dict[str, Any]:
    """Run the demo; returns what a test asserts on."""
    started = time.monotonic()
    result: dict[str, Any] = {}
    with local_system(root, time_scale=time_scale) as system:
        out(f"Local AWS (moto) at {system.cloud.endpoint}; Kubernetes API double at {system.kube.url}")
        counter = CallCounter()
        utils.create_from_yaml(system.api(), str(root / EXAMPLE))  # type: ignore[no-untyped-call]  # untyped in the client
        out(f"Applied {EXAMPLE}: namespace, Deployment (3 replicas), Service, Ingress")
        hostname = system.wait_for("the Ingress address", lambda: ingress_hostname(system, NAMESPACE, NAME), timeout)
        stack = f"{NAMESPACE}/{NAME}"
        # Targets are registered before rules forward to them, so they are already there.
        out(f"\nReady in {time.monotonic() - started:.1f}s. ALB DNS name: {hostname}\n")
        for line in describe_stack(stack, system.cluster):
            out(line)
        out("\n$ kubectl get ingress -n game-2048")
        for line in kubectl_get_ingress(system, NAMESPACE):
            out(line)
        created = counter.snapshot()
        result.update(hostname=hostname, created_mutating=CallCounter.mutating(created))
        out(f"\nCreating it took {result['created_mutating']} mutating ELBv2/EC2 calls.")
        before = counter.snapshot()
        queues.enqueue(str(system.cloud.deployment.environment["WORK_QUEUE_URL"]), [stack], cause="demo-recheck")
        system.wait_for("the re-check reconcile", lambda: _idle(system), timeout)
        again = counter.snapshot() - before
        result["recheck_mutating"] = CallCounter.mutating(again)
        result["recheck_reads"] = sum(again.values()) - result["recheck_mutating"]
        out(
            f"Reconciled again with nothing changed: {result['recheck_mutating']} mutating ELBv2/EC2 calls "
            f"({result['recheck_reads']} other calls, reads and state-store bookkeeping)"
        )
        k8s.NetworkingV1Api(system.api()).delete_namespaced_ingress(NAME, NAMESPACE)
        out("\nDeleted the Ingress; tearing down...")
        system.wait_for("the Ingress to be released", lambda: ingress_gone(system, NAMESPACE, NAME), timeout)
        system.wait_for("no tagged resources", lambda: not tagged_resources(system.cluster), timeout)
        result["left"] = tagged_resources(system.cluster)
        out(f"Finalizer removed, Ingress gone; AWS resources still tagged for the cluster: {len(result['left'])}")
        counter.close()
    out(f"Done in {time.monotonic() - started:.1f}s.")
    return result


def _idle(system: LocalSystem) -> bool:
    """No message waiting or in flight on the work queues (bulk and urgent), and no
    invocation running."""
    values: list[str] = []
    for queue in ("WORK_QUEUE_URL", "URGENT_WORK_QUEUE_URL"):
        url = system.cloud.deployment.environment.get(queue)
        if not url:
            continue
        attrs = clients.sqs().get_queue_attributes(
            QueueUrl=str(url),
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        values += attrs.values()
    return not system.dispatcher.busy() and all(v == "0" for v in values)
