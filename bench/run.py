"""AWS calls per scenario, counted at the botocore boundary of the offline system.

    make bench            # prints the tables, updates bench/results.json

Scenarios, in order, each measured from the change in the cluster until the controller
is idle again (nothing on the work queue, no Step Functions execution running):

* ``create-2048``: apply examples/2048 (one Ingress, one path, HTTP:80);
* ``add-path``: add ``/new`` to it;
* ``change-health-check``: set its health check path;
* ``change-certificate``: swap the certificate of its HTTPS:443 listener for another.
  Setup, not measured: listen on HTTP:80 and HTTPS:443 with a first certificate, so
  from here on the stack has two listeners;
* ``no-op``: reconcile it again with nothing changed;
* ``remove-path``: remove ``/new`` again;
* ``scale-3-to-5``: scale the Deployment behind it (targets follow);
* ``targets-scale-out-1000``: scale it to 1,000 pods (then, not measured, twenty
  one-pod scale-ins sample the endpoint change → target deregistered latency, and it goes
  back to 3 pods);
* ``targets-rolling-update``: restart its Deployment (``kubectl rollout restart``; 3 pods,
  maxSurge 1, maxUnavailable 0). The benchmark moves the double's rollout one step at a
  time and, after each step that changes the serving endpoints, waits until the target
  group shows them (``step_settle_s``: median and max of those waits). The local AWS's
  target health model is on (:func:`albatross.local.mends.target_health`: a new target
  is ``initial`` for its target group's healthy threshold of health-check intervals,
  scaled): ``healthy_floor`` is the fewest healthy targets at any instant of the rollout,
  ``healthy_wanted`` what the Deployment promises (replicas - maxUnavailable). Then, not
  counted, the same rollout again with pod readiness gates (ADR 0014: the pod template
  gated on the target group, as the webhook would gate it; the forwarder watches gated
  pods): ``healthy_floor_gated``, and ``gated_s`` how long that rollout took;
* ``targets-node-drain``: ``kubectl drain`` one of three nodes behind an instance-mode
  Ingress (created beforehand, not measured, in its own namespace): until its instance is
  deregistered (``deregistered_s``) and the evicted pods have moved;
* ``reorder-group``: swap the ``group.order`` of the two Ingresses of an IngressGroup
  (created beforehand, not measured);
* ``group-10-ingresses-95-rules``: create one IngressGroup of 10 Ingresses with 95 rules
  in total;
* ``50-groups``: create 50 IngressGroups of one Ingress each;
* ``delete``: delete the 2048 Ingress;
* ``targets-10000``: 10,000 pods behind ten IngressGroups (one Ingress, Service and
  Deployment each, created first at one pod, not measured): the layout AWS's quotas
  allow, a target group holding at most 1,000 targets and a load balancer 1,000
  (:data:`albatross.model.limits.TARGETS_PER_TARGET_GROUP`). Every Deployment is scaled to
  1,000 at once; ``wanted_calls`` is what those limits allow (a DescribeTargetHealth and a
  RegisterTargets per target group: 20). The pods run on nodes made first (instances in a
  security group tagged for the cluster, :data:`SCALE_NODES` of them, beside any the
  scenarios before left schedulable), their addresses on the nodes' ENIs as the VPC CNI's
  secondary addresses (:data:`SCALE_PER_ENI` an ENI), assigned before the scale-out (warm
  addresses); ``placement_calls`` are the EC2 lookups of which ENI holds each new pod (the
  backend rules' placement, by the pods' nodes). Last, so no scenario runs beside 10,000
  pods;
* ``forwarder``, once the local system is down: the forwarder's footprint and speed with
  10,000 watched objects (:mod:`bench.forwarder`, which ``python -m bench.forwarder``
  runs alone; ``make bench-scale`` runs it at 100,000).

Columns (``bench/results.json`` has one entry per scenario):

* ``mutating_calls`` / ``read_calls``: calls to the AWS services ``calls.INFRA`` names
  (ELBv2, EC2, ...) made by the controller (the shared clients of ``albatross.aws.clients``,
  hooked by ``CallCounter``), split by ``is_mutating``; ``calls`` has them per operation.
  A call that failed counts too.
* ``other_calls``: every other call the controller made (state table, queues, Step
  Functions). The local dispatcher's own calls (receiving from and deleting on the queues,
  invoking the functions: the Lambda service's job in AWS) are left out and printed apart.
* ``changed_resources``: measured, not declared. ``bench/snapshot.py`` reads the full state
  of every Albatross-tagged stack before and after the scenario, one key per AWS object or
  setting-set (``lb/<name>``, ``lb/<name>/attributes``, ``listener/<lb>/<port>``,
  ``listener/<lb>/<port>/certificates``, ``rule/<lb>/<port>/<conditions + actions>``,
  ``tg/<name>``, ``tg/<name>/attributes``, ``tg/<name>/targets``, ``sg/<name>``,
  ``sg/<name>/ingress``), and counts the keys added, removed or changed. Rules are known by
  their content, so moving a rule to another priority changes that rule; a setting-set at
  its defaults (no targets, default attributes) has no key. Cascades count: what goes
  with a deleted object goes as keys too (a load balancer's listeners and rules, a
  security group's inbound rules, a target group's targets), so a delete can change more
  keys than it makes calls. Snapshots (and every check the benchmark polls) use clients of their own, which
  the counter does not see.
* ``listeners``: listeners of the scenario's stacks (before or after, whichever is more;
  so ``delete`` reports what it deleted).
* ``wall_s``: from the change to idle, on moto; relative cost, not AWS latency.

Targets (the deploy-engine issue): mutating calls == changed resources in every
scenario; ``no-op`` makes no mutating call and at most listeners + 3 reads. The run prints
how each scenario fares; it does not fail on them.

    python -m bench.run targets-rolling-update targets-node-drain   # only these

Named scenarios run alone on a fresh system, after the setup they need (2048 applied,
not measured); only ``targets-*`` scenarios can be named. Every run merges into
``bench/results.json``: an entry replaces the one of the same scenario where it stands,
and the other entries stay.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes import utils

from albatross.aws.calls import INFRA, CallCounter, is_mutating
from albatross.contract.readiness import condition_type
from albatross.controller import queues
from albatross.local.demo import ingress_gone, ingress_hostname
from albatross.local.mends import target_health
from albatross.local.pods import pod_ip
from albatross.local.system import LocalSystem, local_system, make_node_security_group
from albatross.model import limits
from albatross.model.names import TAG_STACK
from bench import forwarder as forwarder_bench
from bench import snapshot

ROOT = Path(__file__).resolve().parent.parent
# Endpoint change → target deregistered, end to end in local mode (forwarder watch, bus,
# ingest, targets queue, sync): filled by the scenarios, printed by report().
LATENCY: dict[str, float] = {}
NS = NAME = "game-2048"
STACK_2048 = f"{NS}/{NAME}"
BENCH_NS = "bench"
SERVICE = "web"
ANNOTATION = "alb.ingress.kubernetes.io/"
REORDER_GROUP = "bench-reorder"
BIG_GROUP = "bench-95"
BIG_RULES = [10] * 9 + [5]  # rules per Ingress: 10 Ingresses, 95 rules
MANY_GROUPS = [f"bench-g{i:02}" for i in range(50)]
DRAIN_NS = "bench-drain"
DRAIN_NODES = [f"bench-node-{i}" for i in range(3)]
NODE_PORT = 30090
SCALE_NS = "bench-10k"
SCALE_PODS = 10_000
SCALE_SERVICES = [f"web-{i}" for i in range(-(-SCALE_PODS // limits.TARGETS_PER_TARGET_GROUP))]  # ten
SCALE_NODES = 20  # 500 pods a node: an m5.24xlarge's 15 ENIs hold 735
SCALE_NODES_CIDR = "10.1.0.0/16"
SCALE_PER_ENI = 49  # secondary addresses a node ENI holds (an m5.24xlarge's: 50, the primary one)
TIME_SCALE = 0.05  # the offline system's (every AWS duration, as long times this)
# The rollout the double runs for 2048 (albatross.local.pods): 3 pods, maxUnavailable 0.
ROLLOUT_REPLICAS, ROLLOUT_MAX_UNAVAILABLE = 3, 0
RESTARTED = "kubectl.kubernetes.io/restartedAt"
RESTART = {"spec": {"template": {"metadata": {"annotations": {RESTARTED: "bench"}}}}}


class ControllerCalls(CallCounter):
    """The CallCounter without the local dispatcher's own calls (its threads receive from
    and delete on the queues: what the Lambda service and EventBridge do in AWS). They are
    counted apart, in ``harness``; its invocations go through a client of its own
    (:meth:`albatross.local.dispatch.Dispatcher.invoker`), counted by neither."""

    def __init__(self) -> None:
        self.harness: Counter[str] = Counter()
        super().__init__()

    def _record(self, model: Any, **kwargs: Any) -> None:
        if threading.current_thread().name.startswith("dispatch-"):
            self.harness[model.name] += 1
            return
        super()._record(model, **kwargs)


def idle(system: LocalSystem) -> bool:
    values: list[str] = []
    for queue in ("WORK_QUEUE_URL", "URGENT_WORK_QUEUE_URL", "TARGETS_QUEUE_URL"):
        url = str(system.cloud.deployment.environment[queue])
        values += (
            snapshot.sqs()
            .get_queue_attributes(
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            )["Attributes"]
            .values()
        )
    running = [
        e
        for arn in system.cloud.deployment.state_machines
        for e in snapshot.sfn().list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]
    ]
    return not running and not system.dispatcher.busy() and all(v == "0" for v in values)


def stack_lb(stack: str) -> str | None:
    """The load balancer ARN of a stack, read without being counted."""
    pages = (
        snapshot.tagging()
        .get_paginator("get_resources")
        .paginate(
            TagFilters=[{"Key": TAG_STACK, "Values": [stack]}],
            ResourceTypeFilters=["elasticloadbalancing:loadbalancer"],
        )
    )
    return next((r["ResourceARN"] for p in pages for r in p["ResourceTagMappingList"]), None)


def listeners_of(stack: str) -> dict[int, dict[str, Any]]:
    arn = stack_lb(stack)
    if arn is None:
        return {}
    found = snapshot.elbv2().describe_listeners(LoadBalancerArn=arn)["Listeners"]
    return {int(listener["Port"]): dict(listener) for listener in found}


def rules_of(stack: str, port: int = 80) -> list[dict[str, Any]]:
    """The stack's non-default rules on ``port``, by priority."""
    listener = listeners_of(stack).get(port)
    if listener is None:
        return []
    pages = snapshot.elbv2().get_paginator("describe_rules").paginate(ListenerArn=listener["ListenerArn"])
    rules = [dict(r) for p in pages for r in p["Rules"] if not r["IsDefault"]]
    return sorted(rules, key=lambda r: int(r["Priority"]))


def paths_in_order(stack: str) -> list[str]:
    """The first path pattern of each rule on port 80, by priority."""
    return [
        str(c.get("PathPatternConfig", {}).get("Values", c.get("Values", []))[0])
        for r in rules_of(stack)
        for c in r["Conditions"]
        if c["Field"] == "path-pattern"
    ]


def stack_gone(stack: str) -> bool:
    pages = (
        snapshot.tagging().get_paginator("get_resources").paginate(TagFilters=[{"Key": TAG_STACK, "Values": [stack]}])
    )
    return not any(p["ResourceTagMappingList"] for p in pages)


def measure(
    system: LocalSystem,
    name: str,
    act: Callable[[], object],
    done: Callable[[], bool],
    stacks: Iterable[str],
    *,
    timeout: float = 120,
) -> dict[str, Any]:
    stacks = list(stacks)
    before = snapshot.read()
    counter = ControllerCalls()
    started = time.monotonic()
    try:
        act()
        system.wait_for(name, done, timeout=timeout)
        system.wait_for(f"{name} to settle", lambda: idle(system), timeout=timeout)
    finally:
        counter.close()
    wall = time.monotonic() - started
    after = snapshot.read()
    change = snapshot.diff(before, after)
    calls: Counter[tuple[str, str]] = counter.snapshot()
    infra = {(s, op): n for (s, op), n in calls.items() if s in INFRA}
    by_operation: Counter[str] = Counter()  # ELBv2 and EC2 share some names (DescribeTags)
    for (_, op), n in infra.items():
        by_operation[op] += n
    return {
        "scenario": name,
        "mutating_calls": sum(n for (_, op), n in infra.items() if is_mutating(op)),
        "read_calls": sum(n for (_, op), n in infra.items() if not is_mutating(op)),
        "changed_resources": change.count,
        "listeners": max(before.listeners(stacks), after.listeners(stacks)),
        "wall_s": round(wall, 2),
        "calls": dict(sorted(by_operation.items())),
        "other_calls": sum(n for (s, _), n in calls.items() if s not in INFRA),
        "_changes": change.by_kind(),
        "_harness": sum(counter.harness.values()),
    }


def settle(system: LocalSystem, what: str, done: Callable[[], bool], timeout: float = 120) -> None:
    """Setup between scenarios: wait for it to land and the controller to be idle."""
    system.wait_for(what, done, timeout=timeout)
    system.wait_for(f"{what} to settle", lambda: idle(system), timeout=timeout)


def body(obj: dict[str, Any]) -> Any:
    """A plain dict as a request body (the client serialises dicts as they are; its
    signatures ask for models)."""
    return obj


def path(value: str, service: str = SERVICE) -> dict[str, Any]:
    return {"path": value, "pathType": "Prefix", "backend": {"service": {"name": service, "port": {"number": 80}}}}


def ingress(name: str, paths: list[str], annotations: dict[str, str]) -> Any:
    return body(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {
                "name": name,
                "namespace": BENCH_NS,
                "annotations": {
                    ANNOTATION + "scheme": "internet-facing",
                    ANNOTATION + "target-type": "ip",
                    **{ANNOTATION + k: v for k, v in annotations.items()},
                },
            },
            "spec": {"ingressClassName": "alb", "rules": [{"http": {"paths": [path(p) for p in paths]}}]},
        }
    )


def bench_namespace(system: LocalSystem) -> None:
    """A namespace with a Deployment (2 replicas) and its Service, for the group scenarios."""
    core, apps = k8s.CoreV1Api(system.api()), k8s.AppsV1Api(system.api())
    labels = {"app.kubernetes.io/name": SERVICE}
    pod = {"containers": [{"name": SERVICE, "image": "nginx", "ports": [{"containerPort": 80}]}]}
    core.create_namespace(body({"metadata": {"name": BENCH_NS}}))
    deployment = {
        "metadata": {"name": SERVICE, "labels": labels},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }
    apps.create_namespaced_deployment(BENCH_NS, body(deployment))
    service = {"metadata": {"name": SERVICE}, "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 80}]}}
    core.create_namespaced_service(BENCH_NS, body(service))


def target_group_of(stack: str) -> str | None:
    """The ARN of a stack's (only) target group, read without being counted."""
    pages = (
        snapshot.tagging()
        .get_paginator("get_resources")
        .paginate(
            TagFilters=[{"Key": TAG_STACK, "Values": [stack]}],
            ResourceTypeFilters=["elasticloadbalancing:targetgroup"],
        )
    )
    return next((str(r["ResourceARN"]) for p in pages for r in p["ResourceTagMappingList"]), None)


def registered(stack: str) -> set[tuple[str, int]]:
    """The targets of a stack's (only) target group that are not draining."""
    arn = target_group_of(stack)
    found = snapshot.elbv2().describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"] if arn else []
    return {
        (str(t["Target"]["Id"]), int(t["Target"]["Port"]))
        for t in found
        if (t.get("TargetHealth") or {}).get("State") != "draining"
    }


def _quantiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples) or [0.0]
    return {"median": round(ordered[len(ordered) // 2], 2), "max": round(ordered[-1], 2)}


def _target_calls(result: dict[str, Any]) -> dict[str, Any]:
    calls = result["calls"]
    return {
        "register_calls": calls.get("RegisterTargets", 0),
        "deregister_calls": calls.get("DeregisterTargets", 0),
        "total_calls": result["mutating_calls"] + result["read_calls"],
    }


def rolling_update(system: LocalSystem) -> dict[str, Any]:
    """``targets-rolling-update`` (2048 at 3 pods, idle), with the local AWS's target
    health model on: the fewest healthy targets during the rollout (``healthy_floor``)
    against what the Deployment promises (``healthy_wanted``: replicas - maxUnavailable)."""
    with target_health(time_scale=TIME_SCALE) as health:
        arn = target_group_of(STACK_2048)
        assert arn is not None, "2048's target group"
        started = health.clock()
        result = _rolling_update(system)
        floor = health.floor(arn, started, health.clock())
        initial = health.initial_seconds(arn)
        # the first rollout's new targets pass their health checks before the second starts
        system.wait_for("2048's targets healthy", lambda: health.healthy(arn, health.clock()) >= ROLLOUT_REPLICAS)
        started, began = health.clock(), time.monotonic()
        _gated_rollout(system, arn)
        gated = health.floor(arn, started, health.clock())
        took = time.monotonic() - began
    return {
        **result,
        "healthy_floor": floor,
        "healthy_wanted": ROLLOUT_REPLICAS - ROLLOUT_MAX_UNAVAILABLE,
        "initial_s": round(initial, 2),
        "healthy_floor_gated": gated,
        "gated_s": round(took, 2),
    }


def _gated_rollout(system: LocalSystem, arn: str) -> None:
    """Restart 2048 again, its pods gated on its target group (as the webhook would gate
    them: ``target-health.elbv2.k8s.aws/<target group name>``), the rollout stepped until
    it is done: a gated pod waits until its target is healthy and its condition set."""
    cluster = system.kube.cluster
    [found] = snapshot.elbv2().describe_target_groups(TargetGroupArns=[arn])["TargetGroups"]
    gate = condition_type(str(found["TargetGroupName"]))
    template = {
        "metadata": {"annotations": {RESTARTED: "bench-gated"}},
        "spec": {"readinessGates": [{"conditionType": gate}]},
    }
    paced, cluster.step_seconds = cluster.step_seconds, None  # moved here, as the rollout above
    try:
        k8s.AppsV1Api(system.api()).patch_namespaced_deployment(NAME, NS, {"spec": {"template": template}})
        while cluster.workloads.moving():
            # a step that changes nothing: a new pod waits on its gate (target health polled)
            system.wait_for("the gated rollout to move", cluster.step, timeout=120)
    finally:
        cluster.step_seconds = paced


def _rolling_update(system: LocalSystem) -> dict[str, Any]:
    cluster = system.kube.cluster
    apps = k8s.AppsV1Api(system.api())
    disc = k8s.DiscoveryV1Api(system.api())
    samples: list[float] = []

    def serving() -> set[tuple[str, int]]:
        [found] = disc.list_namespaced_endpoint_slice(NS).items
        port = (found.ports or [])[0].port
        return {
            (str((e.addresses or [""])[0]), int(port or 0))
            for e in found.endpoints or []
            if e.conditions and e.conditions.ready and not e.conditions.terminating
        }

    def roll() -> None:
        apps.patch_namespaced_deployment(NAME, NS, RESTART)
        while True:
            started = time.monotonic()
            if not cluster.step():
                return
            wanted = serving()
            if wanted != registered(STACK_2048):
                system.wait_for(
                    "the step's targets",
                    lambda w=wanted: registered(STACK_2048) == w,  # type: ignore[misc]  # bound default
                    timeout=60,
                )
                samples.append(time.monotonic() - started)

    paced, cluster.step_seconds = cluster.step_seconds, None  # the benchmark moves the rollout
    try:
        result = measure(system, "targets-rolling-update", roll, lambda: not cluster.workloads.moving(), [STACK_2048])
    finally:
        cluster.step_seconds = paced
    return {**result, **_target_calls(result), "step_settle_s": {**_quantiles(samples), "samples": len(samples)}}


def node_drain(system: LocalSystem) -> dict[str, Any]:
    """``targets-node-drain``: three nodes (instances in a security group tagged for the
    cluster), a Deployment of 3 pods spread over them, a NodePort Service and an
    instance-mode Ingress, all set up first; then one node is drained."""
    core, apps, net = k8s.CoreV1Api(system.api()), k8s.AppsV1Api(system.api()), k8s.NetworkingV1Api(system.api())
    ec2 = snapshot.ec2()
    group = make_node_security_group(system.cluster, system.vpc_id, "bench-nodes")
    [subnet, *_] = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [system.vpc_id]}])["Subnets"]
    instances = [
        str(i["InstanceId"])
        for i in ec2.run_instances(
            ImageId="ami-12345678", MinCount=3, MaxCount=3, SubnetId=subnet["SubnetId"], SecurityGroupIds=[group]
        )["Instances"]
    ]
    for name, instance in zip(DRAIN_NODES, instances, strict=True):
        node = {
            "metadata": {"name": name},
            "spec": {"providerID": f"aws:///us-east-1a/{instance}"},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        }
        core.create_node(body(node))
    labels = {"app.kubernetes.io/name": SERVICE}
    pod = {"containers": [{"name": SERVICE, "image": "nginx", "ports": [{"containerPort": 80}]}]}
    core.create_namespace(body({"metadata": {"name": DRAIN_NS}}))
    spec = {
        "replicas": 3,
        "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels}, "spec": pod},
    }
    apps.create_namespaced_deployment(DRAIN_NS, body({"metadata": {"name": SERVICE}, "spec": spec}))
    ports = [{"port": 80, "targetPort": 80, "nodePort": NODE_PORT}]
    service = {"type": "NodePort", "selector": labels, "ports": ports}
    core.create_namespaced_service(DRAIN_NS, body({"metadata": {"name": SERVICE}, "spec": service}))
    annotations = {ANNOTATION + "scheme": "internet-facing", ANNOTATION + "target-type": "instance"}
    rules = [{"http": {"paths": [path("/")]}}]
    ingress = {
        "metadata": {"name": SERVICE, "annotations": annotations},
        "spec": {"ingressClassName": "alb", "rules": rules},
    }
    net.create_namespaced_ingress(DRAIN_NS, body(ingress))
    stack = f"{DRAIN_NS}/{SERVICE}"
    everyone = {(i, NODE_PORT) for i in instances}
    settle(system, "the instance-mode Ingress", lambda: registered(stack) == everyone)

    cluster = system.kube.cluster
    latency: list[float] = []

    def drain() -> None:
        started = time.monotonic()
        cluster.drain(DRAIN_NODES[1])
        system.wait_for(
            "the drained instance gone", lambda: registered(stack) == everyone - {(instances[1], NODE_PORT)}
        )
        latency.append(time.monotonic() - started)
        cluster.settle()  # the evicted pods stop and their replacements start on the other nodes

    paced, cluster.step_seconds = cluster.step_seconds, None
    try:
        result = measure(system, "targets-node-drain", drain, lambda: not cluster.workloads.moving(), [stack])
    finally:
        cluster.step_seconds = paced
    return {**result, **_target_calls(result), "deregistered_s": round(latency[0], 2)}


def scale_nodes(system: LocalSystem) -> dict[str, str]:
    """The nodes targets-10000's pods run on, as the VPC CNI lays them out: SCALE_NODES
    instances in a security group tagged for the cluster (in a subnet of their own), and on the ENIs of every
    schedulable node (these and any the scenarios before left) the addresses of the pods
    it will run, SCALE_PER_ENI an ENI. The double puts a Deployment's pods on the
    schedulable nodes in turn, by name (:mod:`albatross.local.pods`): the pod with address
    index ``i`` on the ``i % n``-th. Returns each address's node, which the scenario checks
    against the EndpointSlices."""
    core, ec2 = k8s.CoreV1Api(system.api()), snapshot.ec2()
    group = make_node_security_group(system.cluster, system.vpc_id, "bench-10k-nodes")
    # A subnet of the nodes' own, in a second CIDR of the VPC: moto counts an ENI's every
    # address against its subnet's free ones, and ten thousand in a load balancers' subnet
    # would leave it too full for LBC's subnet choice.
    ec2.associate_vpc_cidr_block(VpcId=system.vpc_id, CidrBlock=SCALE_NODES_CIDR)
    subnet = ec2.create_subnet(VpcId=system.vpc_id, CidrBlock=SCALE_NODES_CIDR, AvailabilityZone="us-east-1a")["Subnet"]
    made = ec2.run_instances(
        ImageId="ami-12345678",
        MinCount=SCALE_NODES,
        MaxCount=SCALE_NODES,
        SubnetId=subnet["SubnetId"],
        SecurityGroupIds=[group],
    )["Instances"]
    for i, made_one in enumerate(made):
        node = {
            "metadata": {"name": f"bench-10k-node-{i:02}"},
            "spec": {"providerID": f"aws:///us-east-1a/{made_one['InstanceId']}"},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        }
        core.create_node(body(node))
    instance_of = {  # the schedulable nodes' instances, by node name
        str(n.metadata.name if n.metadata else ""): str(n.spec.provider_id).rsplit("/", 1)[-1]
        for n in core.list_node().items
        if n.spec is not None and not n.spec.unschedulable
    }
    schedulable = sorted(instance_of)
    node_of = {
        pod_ip(SCALE_NS, name, i): schedulable[i % len(schedulable)]
        for name in SCALE_SERVICES
        for i in range(limits.TARGETS_PER_TARGET_GROUP)
    }
    for name in schedulable:
        instance = instance_of[name]
        [reservation] = ec2.describe_instances(InstanceIds=[instance])["Reservations"]
        groups = [str(g["GroupId"]) for g in reservation["Instances"][0]["SecurityGroups"]]  # the node's own
        addresses = sorted(a for a, n in node_of.items() if n == name)
        for device, start in enumerate(range(0, len(addresses), SCALE_PER_ENI), start=1):
            eni = ec2.create_network_interface(SubnetId=subnet["SubnetId"], Groups=groups)["NetworkInterface"]
            ec2.attach_network_interface(
                NetworkInterfaceId=eni["NetworkInterfaceId"], InstanceId=instance, DeviceIndex=device
            )
            ec2.assign_private_ip_addresses(
                NetworkInterfaceId=eni["NetworkInterfaceId"],
                PrivateIpAddresses=addresses[start : start + SCALE_PER_ENI],
            )
    return node_of


def targets_10000(system: LocalSystem) -> dict[str, Any]:
    """``targets-10000``: ten IngressGroups of one Ingress, Service and Deployment each,
    set up at one pod, on nodes whose ENIs hold every pod's address (:func:`scale_nodes`);
    then every Deployment is scaled to a target group's quota."""
    core, apps, net = k8s.CoreV1Api(system.api()), k8s.AppsV1Api(system.api()), k8s.NetworkingV1Api(system.api())
    node_of = scale_nodes(system)
    core.create_namespace(body({"metadata": {"name": SCALE_NS}}))
    for name in SCALE_SERVICES:
        labels = {"app.kubernetes.io/name": name}
        pod = {"containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]}]}
        template = {"metadata": {"labels": labels}, "spec": pod}
        spec = {"replicas": 1, "selector": {"matchLabels": labels}, "template": template}
        apps.create_namespaced_deployment(SCALE_NS, body({"metadata": {"name": name, "labels": labels}, "spec": spec}))
        ports = [{"port": 80, "targetPort": 80}]
        core.create_namespaced_service(
            SCALE_NS, body({"metadata": {"name": name}, "spec": {"selector": labels, "ports": ports}})
        )
        annotations = {ANNOTATION + "scheme": "internet-facing", ANNOTATION + "target-type": "ip"}
        rules = [{"http": {"paths": [path("/", service=name)]}}]
        ingress_ = {
            "metadata": {"name": name, "annotations": annotations},
            "spec": {"ingressClassName": "alb", "rules": rules},
        }
        net.create_namespaced_ingress(SCALE_NS, body(ingress_))
    stacks = [f"{SCALE_NS}/{name}" for name in SCALE_SERVICES]
    settle(system, "the ten Ingresses", lambda: all(len(registered(s)) == 1 for s in stacks), timeout=300)
    arns = [str(target_group_of(s)) for s in stacks]
    per = limits.TARGETS_PER_TARGET_GROUP

    def scale() -> None:
        for name in SCALE_SERVICES:
            apps.patch_namespaced_deployment(name, SCALE_NS, {"spec": {"replicas": per}})

    def all_registered() -> bool:
        elbv2 = snapshot.elbv2()
        return all(len(elbv2.describe_target_health(TargetGroupArn=a)["TargetHealthDescriptions"]) == per for a in arns)

    result = measure(system, "targets-10000", scale, all_registered, stacks, timeout=900)
    placement = result["calls"].get("DescribeNetworkInterfaces", 0) + result["calls"].get("DescribeInstances", 0)
    endpoints = [
        e
        for s in k8s.DiscoveryV1Api(system.api()).list_namespaced_endpoint_slice(SCALE_NS).items
        for e in s.endpoints or []
    ]
    placed = {a: e.node_name for e in endpoints for a in e.addresses}
    if placed != node_of:  # the layout scale_nodes foresaw: each pod on the node whose ENI holds it
        raise RuntimeError(f"{sum(placed.get(a) != n for a, n in node_of.items())} pods not on the node holding them")
    inbound = snapshot.ec2().describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": sorted({_group_of_node(system, n) for n in set(node_of.values())})}]
    )["SecurityGroupRules"]
    return {
        **result,
        **_target_calls(result),
        "pods": SCALE_PODS,
        "nodes": len(set(node_of.values())),
        "wanted_calls": 2 * len(arns),
        "placement_calls": placement,
        "backend_rules": sum(1 for r in inbound if not r.get("IsEgress") and r.get("ReferencedGroupInfo")),
    }


def _group_of_node(system: LocalSystem, node: str) -> str:
    """The security group of a node's instance (read without being counted)."""
    spec = k8s.CoreV1Api(system.api()).read_node(node).spec
    provider = spec.provider_id if spec is not None else ""
    found = snapshot.ec2().describe_instances(InstanceIds=[str(provider).rsplit("/", 1)[-1]])
    return str(found["Reservations"][0]["Instances"][0]["SecurityGroups"][0]["GroupId"])


def scenarios(system: LocalSystem) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    net = k8s.NetworkingV1Api(system.api())
    apps = k8s.AppsV1Api(system.api())
    work = str(system.cloud.deployment.environment["WORK_QUEUE_URL"])
    only_2048 = [STACK_2048]
    base_path = {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": NAME, "port": {"number": 80}}}}
    new_path = {**base_path, "path": "/new"}

    def patch_2048(body: dict[str, Any]) -> Callable[[], object]:
        return lambda: net.patch_namespaced_ingress(NAME, NS, body)

    def annotate_2048(annotations: dict[str, str]) -> Callable[[], object]:
        return patch_2048({"metadata": {"annotations": {ANNOTATION + k: v for k, v in annotations.items()}}})

    def target_group() -> str | None:
        rules = rules_of(STACK_2048)
        action = rules[0]["Actions"][-1] if rules else {}
        forward = [g["TargetGroupArn"] for g in (action.get("ForwardConfig") or {}).get("TargetGroups", [])]
        return action.get("TargetGroupArn") or (forward[0] if forward else None)

    def health_path() -> str | None:
        arn = target_group()
        found = snapshot.elbv2().describe_target_groups(TargetGroupArns=[arn])["TargetGroups"] if arn else []
        return str(found[0].get("HealthCheckPath")) if found else None

    def certificate(port: int) -> str | None:
        listener = listeners_of(STACK_2048).get(port)
        certificates = (listener or {}).get("Certificates") or []
        return str(certificates[0]["CertificateArn"]) if certificates else None

    def targets() -> int:
        arn = target_group()
        if arn is None:
            return 0
        return len(snapshot.elbv2().describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"])

    def live_targets() -> int:
        """Targets not draining (a deregistered target drains for a while)."""
        arn = target_group()
        if arn is None:
            return 0
        found = snapshot.elbv2().describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
        return sum(1 for t in found if (t.get("TargetHealth") or {}).get("State") != "draining")

    results.append(
        measure(
            system,
            "create-2048",
            lambda: utils.create_from_yaml(system.api(), str(ROOT / "examples/2048/2048.yaml")),  # type: ignore[no-untyped-call]  # untyped in the client
            lambda: bool(ingress_hostname(system, NS, NAME)),
            only_2048,
        )
    )
    results.append(
        measure(
            system,
            "add-path",
            patch_2048({"spec": {"rules": [{"http": {"paths": [base_path, new_path]}}]}}),
            lambda: len(rules_of(STACK_2048)) == 2,
            only_2048,
        )
    )
    results.append(
        measure(
            system,
            "change-health-check",
            annotate_2048({"healthcheck-path": "/healthz"}),
            lambda: health_path() == "/healthz",
            only_2048,
        )
    )
    first, second = (
        snapshot.acm().request_certificate(DomainName=d)["CertificateArn"] for d in ("a.example.com", "b.example.com")
    )
    annotate_2048({"listen-ports": '[{"HTTP": 80}, {"HTTPS": 443}]', "certificate-arn": first})()
    settle(system, "the HTTPS listener", lambda: certificate(443) == first and len(rules_of(STACK_2048, 443)) == 2)
    results.append(
        measure(
            system,
            "change-certificate",
            annotate_2048({"certificate-arn": second}),
            lambda: certificate(443) == second,
            only_2048,
        )
    )
    results.append(
        measure(
            system,
            "no-op",
            lambda: queues.enqueue(work, [STACK_2048], cause="bench"),
            lambda: True,
            only_2048,
        )
    )
    results.append(
        measure(
            system,
            "remove-path",
            patch_2048({"spec": {"rules": [{"http": {"paths": [base_path]}}]}}),
            lambda: len(rules_of(STACK_2048)) == 1 and len(rules_of(STACK_2048, 443)) == 1,
            only_2048,
        )
    )
    results.append(
        measure(
            system,
            "scale-3-to-5",
            lambda: apps.patch_namespaced_deployment(NAME, NS, {"spec": {"replicas": 5}}),
            lambda: targets() == 5,
            only_2048,
        )
    )

    results.append(
        measure(
            system,
            "targets-scale-out-1000",
            lambda: apps.patch_namespaced_deployment(NAME, NS, {"spec": {"replicas": 1000}}),
            lambda: targets() == 1000,
            only_2048,
            timeout=240,
        )
    )
    samples: list[float] = []
    for replicas in range(999, 979, -1):  # twenty endpoint changes, one pod each
        started = time.monotonic()
        apps.patch_namespaced_deployment(NAME, NS, {"spec": {"replicas": replicas}})
        system.wait_for("the target to go", lambda r=replicas: live_targets() == r, timeout=60)  # type: ignore[misc]  # bound default
        samples.append(time.monotonic() - started)
        settle(system, "the targets to settle", lambda: True)
    samples.sort()
    LATENCY.update(median_s=round(samples[len(samples) // 2], 2), p99_s=round(samples[-1], 2), samples=len(samples))
    apps.patch_namespaced_deployment(NAME, NS, {"spec": {"replicas": 3}})
    settle(system, "back to three targets", lambda: live_targets() == 3, timeout=240)
    results.append(rolling_update(system))
    results.append(node_drain(system))

    bench_namespace(system)
    for name, order, prefix in (("first", "1", "/a"), ("second", "2", "/b")):
        net.create_namespaced_ingress(
            BENCH_NS, ingress(name, [prefix], {"group.name": REORDER_GROUP, "group.order": order})
        )
    settle(system, "the group to reorder", lambda: paths_in_order(REORDER_GROUP) == ["/a", "/b"])

    def swap() -> None:
        for name, order in (("first", "2"), ("second", "1")):
            net.patch_namespaced_ingress(
                name, BENCH_NS, {"metadata": {"annotations": {ANNOTATION + "group.order": order}}}
            )

    results.append(
        measure(system, "reorder-group", swap, lambda: paths_in_order(REORDER_GROUP) == ["/b", "/a"], [REORDER_GROUP])
    )

    def create_big_group() -> None:
        for i, count in enumerate(BIG_RULES):
            paths = [f"/i{i}/p{j}" for j in range(count)]
            net.create_namespaced_ingress(
                BENCH_NS, ingress(f"big-{i}", paths, {"group.name": BIG_GROUP, "group.order": str(i)})
            )

    results.append(
        measure(
            system,
            "group-10-ingresses-95-rules",
            create_big_group,
            lambda: len(rules_of(BIG_GROUP)) == sum(BIG_RULES),
            [BIG_GROUP],
        )
    )

    def create_many_groups() -> None:
        for group in MANY_GROUPS:
            net.create_namespaced_ingress(BENCH_NS, ingress(group, ["/"], {"group.name": group}))

    results.append(
        measure(
            system,
            "50-groups",
            create_many_groups,
            lambda: all(ingress_hostname(system, BENCH_NS, g) for g in MANY_GROUPS),
            MANY_GROUPS,
            timeout=300,
        )
    )
    results.append(
        measure(
            system,
            "delete",
            lambda: net.delete_namespaced_ingress(NAME, NS),
            lambda: ingress_gone(system, NS, NAME) and stack_gone(STACK_2048),
            only_2048,
        )
    )
    results.append(targets_10000(system))
    return results


def report(results: list[dict[str, Any]]) -> None:
    header = ("scenario", "mutating", "reads", "changed", "listeners", "other", "wall s")
    rows = [
        (
            r["scenario"],
            r["mutating_calls"],
            r["read_calls"],
            r["changed_resources"],
            r["listeners"],
            r["other_calls"],
            r["wall_s"],
        )
        for r in results
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    for row in (header, *rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    print("\nchanged resources by kind (+added -removed ~changed):")
    for r in results:
        kinds = ", ".join(
            f"{kind} " + " ".join(f"{sign}{counts[what]}" for sign, what in _SIGNS if what in counts)
            for kind, counts in r["_changes"].items()
        )
        print(f"  {r['scenario']}: {kinds or '-'}")
    harness = ", ".join(f"{r['scenario']} {r['_harness']}" for r in results)
    print(f"\nlocal dispatcher calls, left out of other: {harness}")
    print("\ntargets:")
    for r in results:
        if r["mutating_calls"] != r["changed_resources"]:
            print(f"  {r['scenario']}: mutating {r['mutating_calls']} != changed {r['changed_resources']}")
    for r in results:
        if r["scenario"] == "targets-scale-out-1000":
            registers = r["calls"].get("RegisterTargets", 0)
            print(
                f"  targets-scale-out-1000: {registers} RegisterTargets, at most 5 wanted: "
                + ("met" if registers <= 5 else "not met")
            )
        if r["scenario"] == "targets-rolling-update":
            step = r["step_settle_s"]
            print(
                f"  targets-rolling-update: {r['register_calls']} RegisterTargets, {r['deregister_calls']} "
                f"DeregisterTargets, {r['total_calls']} AWS calls; rollout step → targets settled, "
                f"{step['samples']} samples: median {step['median']} s, max {step['max']} s"
            )
            print(
                f"  targets-rolling-update: fewest healthy targets {r['healthy_floor']}, replicas - "
                f"maxUnavailable {r['healthy_wanted']} wanted (a new target initial for {r['initial_s']} s, "
                "no readiness gates): " + ("met" if r["healthy_floor"] >= r["healthy_wanted"] else "not met")
            )
            print(
                f"  targets-rolling-update: with pod readiness gates, fewest healthy targets "
                f"{r['healthy_floor_gated']} ({r['gated_s']} s for the rollout): "
                + ("met" if r["healthy_floor_gated"] >= r["healthy_wanted"] else "not met")
            )
        if r["scenario"] == "targets-10000":
            elb = r["register_calls"] + r["calls"].get("DescribeTargetHealth", 0)
            print(
                f"  targets-10000: {r['register_calls']} RegisterTargets and "
                f"{r['calls'].get('DescribeTargetHealth', 0)} DescribeTargetHealth for {r['pods']} pods, at most "
                f"{r['wanted_calls']} wanted (AWS's target quotas): "
                + ("met" if elb <= r["wanted_calls"] else "not met")
            )
            print(
                f"  targets-10000: {r['total_calls']} AWS calls in all, {r['placement_calls']} of them the "
                "backend rules' lookups of where the pods live (DescribeNetworkInterfaces)"
            )
        if r["scenario"] == "targets-node-drain":
            print(
                f"  targets-node-drain: {r['register_calls']} RegisterTargets, {r['deregister_calls']} "
                f"DeregisterTargets, {r['total_calls']} AWS calls; drain → instance deregistered "
                f"{r['deregistered_s']} s"
            )
        if r["scenario"] == "no-op":
            limit = r["listeners"] + 3
            met = r["mutating_calls"] == 0 and r["read_calls"] <= limit
            print(
                f"  no-op: {r['mutating_calls']} mutating, {r['read_calls']} reads, at most {limit} wanted: "
                + ("met" if met else "not met")
            )
    if LATENCY:
        met = LATENCY["median_s"] <= 2 and LATENCY["p99_s"] <= 2
        print(
            f"  endpoint change → target deregistered, {int(LATENCY['samples'])} samples: "
            f"median {LATENCY['median_s']} s, p99 {LATENCY['p99_s']} s, at most 2 s wanted: "
            + ("met" if met else "not met")
        )


_SIGNS = (("+", "added"), ("-", "removed"), ("~", "changed"))


SELECTABLE = {
    "targets-rolling-update": rolling_update,
    "targets-node-drain": node_drain,
    "targets-10000": targets_10000,
}


def selected(system: LocalSystem, names: list[str]) -> list[dict[str, Any]]:
    """The named scenarios alone, after the setup they need."""
    if "targets-rolling-update" in names:
        utils.create_from_yaml(system.api(), str(ROOT / "examples/2048/2048.yaml"))  # type: ignore[no-untyped-call]  # untyped in the client
        settle(system, "the 2048 Ingress", lambda: bool(ingress_hostname(system, NS, NAME)))
    return [SELECTABLE[name](system) for name in names]


def record(public: list[dict[str, Any]]) -> None:
    """Write the entries to bench/results.json: each replaces the entry of the same
    scenario where it stands, new ones go after, and the others stay."""
    path = ROOT / "bench" / "results.json"
    entries: list[dict[str, Any]] = json.loads(path.read_text()) if path.exists() else []
    fresh = {e["scenario"]: e for e in public}
    merged = [fresh.pop(e.get("scenario", ""), e) for e in entries]
    merged += [e for e in public if e["scenario"] in fresh]
    path.write_text(json.dumps(merged, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    names = list(sys.argv[1:] if argv is None else argv)
    unknown = [n for n in names if n not in SELECTABLE]
    if unknown:
        print(f"unknown or not selectable: {', '.join(unknown)}; choose from {', '.join(SELECTABLE)}")
        return 2
    # The functions run in this process; their metrics (EMF lines on stdout) are not the table.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    # READINESS_GATES: the forwarder watches gated pods (targets-rolling-update's gated run)
    with (
        local_system(ROOT, time_scale=TIME_SCALE, forwarder_env={"READINESS_GATES": "true"}) as system,
        contextlib.redirect_stdout(io.StringIO()),
    ):
        results = selected(system, names) if names else scenarios(system)
    report(results)
    public = [{k: v for k, v in r.items() if not k.startswith("_")} for r in results]
    for entry in public:
        if entry["scenario"] == "targets-scale-out-1000" and LATENCY:
            entry["endpoint_change_latency_s"] = dict(LATENCY)
    if not names:  # the whole run: then the forwarder's footprint, once the local system is down
        print()
        # at 10,000 objects: `make bench-scale` runs the 100,000 (minutes of both cores)
        figures = forwarder_bench.run(objects=forwarder_bench.OBJECTS)
        forwarder_bench.report(figures)
        name = forwarder_bench.entry(forwarder_bench.OBJECTS)
        public.append({"scenario": name, name: figures})
    record(public)
    return 0


if __name__ == "__main__":
    sys.exit(main())
