"""Issue 16's scale scenarios on the realistic local AWS: today's design, measured.

    make bench-scale                                          # 100, then 300 Ingresses
    python -m bench.scale --count 100 --time-scale 0.5        # one size
    python -m bench.scale --count 900 --only adopt            # one part

Every run is the offline system (moto + the API double + the forwarder process) in the
realistic mode (:mod:`albatross.local.realistic`): the account's token buckets, AWS's
quotas, and a new load balancer ``provisioning`` for ``--provisioning-seconds`` before
``active``. For ``--count N`` Ingresses the layout is issue 16's: N/30 groups of 10
Ingresses (one path each, ``group.order`` 0-9) and the rest one-Ingress groups (one
path ``/``): 900 is 600 one-Ingress groups and 30 groups of 10, 300 is 200 and 10, 100 is
70 and 3.

Part ``create`` (one system):

* ``scale-create-<N>``: every Ingress created at once, until each has its address and the
  controller is idle (nothing on the work and targets queues, no execution running);
* ``scale-restart``: the forwarder restarted (a new process, no memory) and every
  function made cold (handlers loaded anew, clients made anew), nothing changed in the
  cluster or AWS: until the new forwarder's Resync reached ingest and the controller is
  idle. Target: 0 ELBv2 calls;
* ``scale-user-change-under-storm`` (its drift half): the drift schedule fires (every
  group enqueued for a full re-read) and at once one user adds a path to one Ingress:
  ``during_drift_s`` until its new rule is on the listener. Target: 30 s;
* ``scale-steady-state``: ten idle minutes on AWS's clock (the drift schedule's period,
  ``rate(10 minutes)``; the forwarder's resync is set to the same 10 AWS minutes): one
  sweep fired at its start, then nothing but what the controller does by itself.
  ``describe_budget_share`` is that window's ELBv2 ``Describe*`` calls per AWS second
  over the bucket's refill of 10 per second; an idle hour is six such windows, so the
  hour's share is the window's. Then a rule deleted by hand (through the shared clients,
  so CloudTrail reports it as someone else's call, as on AWS): ``repair_s`` until it is
  back; if the controller has not repaired it when the next scheduled sweep is due (10
  AWS minutes after the last), the benchmark fires that sweep, as the schedule would.
  Target: 5 % and 15 minutes.

Part ``adopt`` (a second, fresh system):

* ``scale-adopt-<N>``: the forwarder stopped, the same Ingresses created, and their
  stacks made first the way LBC makes them (the same way tests/e2e/test_migrating_from_lbc.py
  does: Albatross's own builder and applier, which use LBC's names and tags; LBC's shared
  backend security group on each load balancer; the pods registered as LBC's
  TargetGroupBindings do; LBC's finalizer and the load balancer's address on each
  Ingress), all inside ``Realistic.unlimited()`` and with CloudTrail off (setup spends no
  budget and reports no "someone else" change). Then the forwarder starts: until its
  Resync reached ingest and the controller is idle. Target: 0 mutating calls;
* ``scale-user-change-under-storm`` (its adoption half): three users add a path to one
  Ingress each. ``during_adoption_s`` (the target): the edit made once the forwarder's
  Resync has reached ingest, so every group's adoption has been asked for on the bulk
  work queue (``bulk_backlog_at_edit``: its reconciles waiting or running at that
  moment); until the rule is there (the entry's ``converged_s`` is the worse of the two
  halves). Two more, no target, to show where else time goes:
  ``edited_during_the_list_s``, an edit made as soon as the forwarder's list of that
  Ingress reached ingest: it waits for the rest of the list to be ingested first, which
  here is ten invocations at a time in one process (the offline EventBridge's
  :data:`~albatross.local.dispatch.UNRESERVED_RULE_INVOCATIONS`; on AWS the ingest
  function reserves no concurrency and a list of hundreds is ingested in seconds); and
  ``edited_before_the_list_s``, an edit made just before the forwarder starts, so its
  list carries it as the Ingress's first version: ingest cannot tell that from an Ingress
  LBC left as it was, and it converges with the adoption's bulk work, counted from the
  forwarder's start. The users' own calls (a CreateRule and a SetRulePriorities each,
  as ``add-path`` in ``bench.run``) are taken out of the adoption's figures;
  ``with_user_change`` has them in.

Figures of each window (:func:`figures`): ``aws_s`` on the realistic mode's clock (the
one its buckets and provisioning run on: wall seconds over the time scale), ``wall_s``;
calls the account answered, per action and per kind (ELBv2 Describe*, ELBv2 mutating,
EC2 reads, EC2 mutating, tagging), and the calls it throttled, all counted at the local
endpoint (:class:`albatross.local.realistic.Tally`: every HTTP request, a botocore retry
too), so they are the controller's alone: this harness's own reads are signed with
:data:`OBSERVER_KEY`; ``mutating_calls`` / ``read_calls`` are ELBv2, EC2 and tagging
calls. ``describe_budget_share``: the window's ELBv2 ``Describe*`` calls per AWS second
over 10. Each run merges into ``bench/results.json``; ``scale-create-<N>`` keeps one entry
per size (the curve), the other scenarios keep the largest size measured.

A time scale is a trade: wall time is AWS time times the scale, but the local system's
own compute does not shrink with it, so below about 0.5 on a small machine the
controller is slower than the account's budget and ``aws_s`` measures the machine, not
the budget (the throttled count says which: none throttled, not the budget).
``python -m bench.motocost`` measures moto's own cost at these sizes.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import sys
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from kubernetes import client as k8s

from albatross.aws import applier, clients
from albatross.aws import discovery as aws_discovery
from albatross.cli.plan import plan_offline
from albatross.controller.settings import Settings
from albatross.local import lambdas
from albatross.local.realistic import OBSERVER_KEY, Realistic
from albatross.local.system import LocalSystem, local_system
from albatross.model import limits
from albatross.model.config import ControllerConfig
from albatross.model.discovery import Discovery
from albatross.model.names import TAG_STACK
from albatross.model.stack import Stack
from albatross.plan.actual import Actual
from albatross.plan.planner import plan
from albatross.store.table import Store
from bench import snapshot
from bench.run import BENCH_NS, SERVICE, bench_namespace, idle, ingress

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
SERVICES = ("elasticloadbalancing", "ec2", "tagging")  # the account's throttled APIs: ELBv2, EC2, tagging
DRIFT_PERIOD_S = 600.0  # the template's DriftSchedule default, rate(10 minutes), AWS seconds
TARGETS = {"converged_s": 30.0, "describe_budget_share": 0.05, "repair_s": 900.0}
LBC_FINALIZER = "ingress.k8s.aws/resources"  # LBC's, on an Ingress of an implicit group
LBC_GROUP_FINALIZER = "group.ingress.k8s.aws/"  # LBC's, + the group name, on an explicit group's
USER_CHANGE_PATH = "/changed"
USER_CHANGE_CALLS = Counter(
    {("elasticloadbalancing", "CreateRule"): 1, ("elasticloadbalancing", "SetRulePriorities"): 1}
)
_OBSERVER_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, read_timeout=120)


# --- figures ------------------------------------------------------------------------


@dataclass(frozen=True)
class Mark:
    """The account's tallies at one instant, on both clocks."""

    aws: float
    wall: float
    calls: Counter[tuple[str, str]]
    throttled: Counter[tuple[str, str]]


def _copy(counts: Counter[tuple[str, str]]) -> Counter[tuple[str, str]]:
    while True:  # the endpoint's threads add to it as we copy
        try:
            return Counter(dict(counts))
        except RuntimeError:
            continue


def mark(account: Realistic) -> Mark:
    tally = account.throttle.tally
    return Mark(account.clock(), time.monotonic(), _copy(tally.calls), _copy(tally.throttled))


def describe_budget_share(describes: int, aws_s: float) -> float:
    """ELBv2 ``Describe*`` calls per AWS second as a share of the account's refill (10/s)."""
    return describes / aws_s / limits.ELBV2_DESCRIBE.refill if aws_s > 0 else 0.0


def kind(service: str, action: str) -> str:
    """The kind of call, as the budget sees it: its bucket's family."""
    if service == "elasticloadbalancing":
        return "elbv2 describe" if limits.elbv2_bucket(action)[0] == "Describe*" else "elbv2 mutating"
    if service == "ec2":
        return "ec2 mutating" if limits.mutating(action) else "ec2 read"
    return service


def figures(start: Mark, end: Mark, *, exclude: Counter[tuple[str, str]] | None = None) -> dict[str, Any]:
    """What the account answered and throttled between two marks (less ``exclude``: a
    harness's own calls through the shared clients, such as a hand edit)."""
    calls = Counter({k: n for k, n in (end.calls - start.calls - (exclude or Counter())).items() if k[0] in SERVICES})
    throttled = Counter({k: n for k, n in (end.throttled - start.throttled).items() if k[0] in SERVICES})
    aws_s = end.aws - start.aws
    by_kind: Counter[str] = Counter()
    for (service, action), n in calls.items():
        by_kind[kind(service, action)] += n
    describes = by_kind["elbv2 describe"]
    mutating = sum(n for (_, action), n in calls.items() if limits.mutating(action))
    return {
        "aws_s": round(aws_s, 1),
        "wall_s": round(end.wall - start.wall, 1),
        "mutating_calls": mutating,
        "read_calls": sum(calls.values()) - mutating,
        "throttled_calls": sum(throttled.values()),
        "describe_calls": describes,
        "describe_budget_share": round(describe_budget_share(describes, aws_s), 3),
        "calls_by_kind": dict(sorted(by_kind.items())),
        "calls": {f"{s}:{a}": n for (s, a), n in sorted(calls.items())},
        "throttled": {f"{s}:{a}": n for (s, a), n in sorted(throttled.items())},
    }


# --- the cluster ----------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """One Ingress of the layout; ``group`` None: a one-Ingress (implicit) group."""

    name: str
    group: str | None = None
    order: int = 0

    @property
    def stack(self) -> str:
        return self.group or f"{BENCH_NS}/{self.name}"

    def body(self, paths: list[str] | None = None) -> Any:
        if self.group is None:
            return ingress(self.name, paths or ["/"], {})
        annotations = {"group.name": self.group, "group.order": str(self.order)}
        return ingress(self.name, paths or [f"/m{self.order}"], annotations)


def layout(count: int) -> list[Member]:
    """Issue 16's shape for ``count`` Ingresses: count/30 groups of 10, the rest alone."""
    tens = count // 30
    singles = [Member(f"s-{i:04}") for i in range(count - 10 * tens)]
    return singles + [Member(f"t-{g:02}-{j}", f"scale-t{g:02}", j) for g in range(tens) for j in range(10)]


def stacks(members: list[Member]) -> list[str]:
    return sorted({m.stack for m in members})


def observer(service: str) -> Any:
    """A client whose calls the account neither throttles nor tallies (the harness's checks)."""
    return boto3.client(  # type: ignore[call-overload]  # service is a runtime name
        service,
        endpoint_url=os.environ["AWS_ENDPOINT_URL"],
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        aws_access_key_id=OBSERVER_KEY,
        aws_secret_access_key="testing",  # noqa: S106  # moto's fake credentials
        config=_OBSERVER_CONFIG,
    )


def listener_of(stack: str, port: int = 80) -> str | None:
    found = observer("resourcegroupstaggingapi").get_resources(
        TagFilters=[{"Key": TAG_STACK, "Values": [stack]}], ResourceTypeFilters=["elasticloadbalancing:loadbalancer"]
    )["ResourceTagMappingList"]
    if not found:
        return None
    listeners = observer("elbv2").describe_listeners(LoadBalancerArn=found[0]["ResourceARN"])["Listeners"]
    return next((str(x["ListenerArn"]) for x in listeners if int(x["Port"]) == port), None)


def rule_paths(listener: str) -> set[str]:
    rules = observer("elbv2").describe_rules(ListenerArn=listener)["Rules"]
    return {
        str(v)
        for r in rules
        if not r["IsDefault"]
        for c in r["Conditions"]
        if c["Field"] == "path-pattern"
        for v in c.get("PathPatternConfig", {}).get("Values", c.get("Values", []))
    }


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def wait(system: LocalSystem, what: str, check: Callable[[], Any], *, timeout: float) -> Any:
    """Poll ``check`` (every second) until truthy; say how it goes every 30 s."""
    deadline = time.monotonic() + timeout
    said = time.monotonic()
    while True:
        if system.forwarder.poll() is not None:
            raise RuntimeError(f"the forwarder exited; see {system.log_path}")
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        if time.monotonic() - said > 30:
            progress(f"waiting for {what}")
            said = time.monotonic()
        time.sleep(1.0)


def settled(system: LocalSystem, *, timeout: float) -> None:
    """Idle three polls running (a reconcile may enqueue the next between two)."""
    streak = [0]

    def check() -> bool:
        streak[0] = streak[0] + 1 if idle(system) else 0
        return streak[0] >= 3

    wait(system, "the controller to be idle", check, timeout=timeout)


def addressed(system: LocalSystem, members: list[Member]) -> Callable[[], bool]:
    names = {m.name for m in members}
    net = k8s.NetworkingV1Api(system.api())
    said = [0]

    def check() -> bool:
        found = net.list_namespaced_ingress(BENCH_NS).items
        done = sum(
            1
            for i in found
            if i.metadata
            and i.metadata.name in names
            and i.status
            and i.status.load_balancer
            and i.status.load_balancer.ingress
        )
        if done != said[0]:
            said[0] = done
            progress(f"{done}/{len(names)} Ingresses have their address")
        return done == len(names)

    return check


def resynced(system: LocalSystem, before: tuple[str, float] | None) -> Callable[[], bool]:
    """True once a Resync other than ``before`` has reached ingest."""
    store = Store(Settings.from_env().table)
    return lambda: store.last_resync() not in (None, before)


def last_resync() -> tuple[str, float] | None:
    return Store(Settings.from_env().table).last_resync()


def drift_schedule(system: LocalSystem) -> str:
    [schedule] = system.cloud.deployment.schedules  # the template has one: the drift sweep
    return schedule


@contextlib.contextmanager
def in_background(work: Callable[[], object]) -> Iterator[None]:
    thread = threading.Thread(target=work, name="bench-scale-drift", daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join()


def edit(system: LocalSystem, member: Member) -> None:
    """One user adds a path to ``member``'s Ingress."""
    change = {"spec": member.body(["/", USER_CHANGE_PATH])["spec"]}  # a merge patch: the new list of paths
    k8s.NetworkingV1Api(system.api()).patch_namespaced_ingress(member.name, BENCH_NS, change)


def changed(system: LocalSystem, listener: str, since: float, *, timeout: float) -> float:
    """AWS seconds from ``since`` (the realistic clock) until the user's rule is on ``listener``."""
    account = system.cloud.realistic
    assert account is not None  # a realistic system, by construction
    wait(system, "the user's change", lambda: USER_CHANGE_PATH in rule_paths(listener), timeout=timeout)
    return round(account.clock() - since, 1)


def user_change(system: LocalSystem, member: Member, listener: str, *, timeout: float) -> float:
    """Add a path to ``member``'s Ingress; AWS seconds until its rule is on ``listener``."""
    account = system.cloud.realistic
    assert account is not None  # a realistic system, by construction
    started = account.clock()
    edit(system, member)
    return changed(system, listener, started, timeout=timeout)


def watch(system: LocalSystem, listener: str, since: float, *, timeout: float) -> Callable[[], float]:
    """:func:`changed` in a thread of its own, from now on: the answer is when the rule
    came, however long another wait takes meanwhile. Returns what waits for it."""
    found: list[float] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            found.append(changed(system, listener, since, timeout=timeout))
        except BaseException as e:  # noqa: BLE001  # handed to the caller
            failed.append(e)

    thread = threading.Thread(target=run, name="bench-scale-watch", daemon=True)
    thread.start()

    def result() -> float:
        thread.join()
        if failed:
            raise failed[0]
        return found[0]

    return result


def stored(member: Member) -> Callable[[], bool]:
    """Ingest has stored ``member``'s Ingress (the forwarder's list reached it)."""
    store = Store(Settings.from_env().table)
    return lambda: bool(store.get_objects("Ingress", [f"{BENCH_NS}/{member.name}"]))


# --- part create ----------------------------------------------------------------------


def create_part(system: LocalSystem, members: list[Member], *, timeout: float) -> dict[str, dict[str, Any]]:
    account = system.cloud.realistic
    assert account is not None  # a realistic system, by construction
    count = len(members)
    results: dict[str, dict[str, Any]] = {}
    bench_namespace(system)
    net = k8s.NetworkingV1Api(system.api())
    settled(system, timeout=timeout)

    progress(f"scale-create-{count}: {count} Ingresses, {len(stacks(members))} groups")
    start = mark(account)
    for member in members:
        net.create_namespaced_ingress(BENCH_NS, member.body())
    wait(system, "every Ingress's address", addressed(system, members), timeout=timeout)
    settled(system, timeout=timeout)
    results[f"scale-create-{count}"] = figures(start, mark(account))
    progress(f"scale-create-{count}: {results[f'scale-create-{count}']['aws_s']} AWS s")

    progress("scale-restart")
    before = last_resync()
    start = mark(account)
    with lambdas._lock:  # every function cold: its handler module loaded again at the next invocation
        lambdas._loaded.clear()
    clients.reset()
    system.restart_forwarder()
    wait(system, "the new forwarder's Resync", resynced(system, before), timeout=timeout)
    settled(system, timeout=timeout)
    results["scale-restart"] = figures(start, mark(account))

    user = members[0]
    listener = wait(system, "the user's listener", lambda: listener_of(user.stack), timeout=60)
    progress("scale-user-change-under-storm: during a drift sweep")
    start = mark(account)
    with in_background(lambda: system.dispatcher.fire(drift_schedule(system))):
        converged = user_change(system, user, listener, timeout=timeout)
    settled(system, timeout=timeout)
    results["scale-user-change-under-storm"] = {"during_drift_s": converged, **figures(start, mark(account))}

    progress("scale-steady-state: ten idle AWS minutes, one sweep")
    start = mark(account)
    system.dispatcher.fire(drift_schedule(system))
    wait(system, "ten AWS minutes", lambda: account.clock() - start.aws >= DRIFT_PERIOD_S, timeout=timeout)
    settled(system, timeout=timeout)
    steady = figures(start, mark(account))
    progress(f"scale-steady-state: share {steady['describe_budget_share']}; a rule deleted by hand")
    victim = members[1]
    victim_listener = wait(system, "the victim's listener", lambda: listener_of(victim.stack), timeout=60)
    [rule] = [r for r in observer("elbv2").describe_rules(ListenerArn=victim_listener)["Rules"] if not r["IsDefault"]]
    start = mark(account)
    last_sweep = start.aws  # the window's sweep is over; the schedule's next is due a period after it
    clients.elbv2().delete_rule(RuleArn=rule["RuleArn"])  # someone else's call: CloudTrail reports it
    swept = [False]

    def repaired() -> bool:
        if rule_paths(victim_listener):
            return True
        if not swept[0] and account.clock() - last_sweep >= DRIFT_PERIOD_S:
            swept[0] = True
            threading.Thread(target=lambda: system.dispatcher.fire(drift_schedule(system)), daemon=True).start()
        return False

    wait(system, "the rule's repair", repaired, timeout=timeout)
    repair_s = round(account.clock() - start.aws, 1)
    settled(system, timeout=timeout)
    hand = Counter({("elasticloadbalancing", "DeleteRule"): 1})
    results["scale-steady-state"] = {
        **steady,
        "window_aws_s": steady["aws_s"],
        "repair_s": repair_s,
        "repaired_by": "the scheduled sweep" if swept[0] else "the controller (CloudTrail event)",
        "repair": figures(start, mark(account), exclude=hand),
    }
    return results


# --- part adopt -----------------------------------------------------------------------


def lbc_made_them(system: LocalSystem, members: list[Member]) -> None:
    """The stacks LBC would have made for ``members`` (see the module docstring)."""
    account = system.cloud.realistic
    assert account is not None  # a realistic system, by construction
    core = k8s.CoreV1Api(system.api())
    service = core.read_namespaced_service(SERVICE, BENCH_NS)
    objects: list[Any] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": BENCH_NS}},
        {"apiVersion": "v1", "kind": "Service", **system.api().sanitize_for_serialization(service)},  # type: ignore[no-untyped-call]  # untyped in the client
        *(m.body() for m in members),
    ]
    config = ControllerConfig(cluster=system.cluster, vpc_id=system.vpc_id)
    system.cloud.aws_events.trail.logging = False
    try:
        with account.unlimited():
            found = aws_discovery.discover(vpc_id=system.vpc_id)
            desired = plan_offline(objects, config, Discovery(), discovery_for=lambda *_: found)
            ec2, elbv2 = clients.ec2(), clients.elbv2()
            # LBC's shared backend security group (one per cluster), on every load balancer
            backend = ec2.create_security_group(
                GroupName=f"k8s-traffic-{system.cluster}-{hashlib.sha256(system.cluster.encode()).hexdigest()[:10]}",
                Description="[k8s] Shared Backend SecurityGroup for LoadBalancer",
                VpcId=system.vpc_id,
                TagSpecifications=[
                    {
                        "ResourceType": "security-group",
                        "Tags": [
                            {"Key": "elbv2.k8s.aws/cluster", "Value": system.cluster},
                            {"Key": "elbv2.k8s.aws/resource", "Value": "backend-sg"},
                        ],
                    }
                ],
            )["GroupId"]
            slices = k8s.DiscoveryV1Api(system.api()).list_namespaced_endpoint_slice(BENCH_NS).items
            pods = sorted({a for s in slices for e in s.endpoints or [] for a in e.addresses or []})
            dns: dict[str, str] = {}
            for number, made in enumerate(desired["stacks"]):
                stack = Stack.from_json(made)
                physical: dict[str, str] = {}
                for step in plan(stack, Actual()):
                    applier.apply(step, physical)
                lb = physical["LoadBalancer"]
                elbv2.set_security_groups(
                    LoadBalancerArn=lb, SecurityGroups=[physical["ManagedLBSecurityGroup"], backend]
                )
                for arn in physical.values():
                    if ":targetgroup/" in arn and pods:
                        elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": ip, "Port": 80} for ip in pods])
                described = elbv2.describe_load_balancers(LoadBalancerArns=[lb])["LoadBalancers"][0]
                dns[stack.stack_id] = str(described["DNSName"])
                if number % 50 == 49:
                    progress(f"LBC made {number + 1}/{len(desired['stacks'])} stacks")
    finally:
        system.cloud.aws_events.trail.logging = True
    net = k8s.NetworkingV1Api(system.api())
    for member in members:
        finalizer = LBC_FINALIZER if member.group is None else LBC_GROUP_FINALIZER + member.group
        net.patch_namespaced_ingress(member.name, BENCH_NS, {"metadata": {"finalizers": [finalizer]}})
        status = {"status": {"loadBalancer": {"ingress": [{"hostname": dns[member.stack]}]}}}
        net.patch_namespaced_ingress_status(member.name, BENCH_NS, status)


def adopt_part(system: LocalSystem, members: list[Member], *, timeout: float) -> dict[str, dict[str, Any]]:
    account = system.cloud.realistic
    assert account is not None  # a realistic system, by construction
    count = len(members)
    system.stop_forwarder()  # LBC's cluster: no Albatross yet
    bench_namespace(system)
    net = k8s.NetworkingV1Api(system.api())
    for member in members:
        net.create_namespaced_ingress(BENCH_NS, member.body())
    progress(f"scale-adopt-{count}: LBC makes {len(stacks(members))} stacks")
    lbc_made_them(system, members)
    if count < 3:
        raise ValueError("the adoption's three users' edits need at least 3 Ingresses")
    user, early, listed = members[0], members[1], members[2]
    found = {m.name: listener_of(m.stack) for m in (user, early, listed)}
    listeners = {name: arn for name, arn in found.items() if arn is not None}
    if len(listeners) < len(found):
        raise RuntimeError(f"no listener on LBC's stacks of {sorted(set(found) - set(listeners))}")
    progress(f"scale-adopt-{count}: Albatross starts")
    before = last_resync()
    start = mark(account)
    edit(system, early)  # before the forwarder lists it: its first version, as the adoption finds it
    system.forwarder = system.start_forwarder()
    before_list = watch(system, listeners[early.name], start.aws, timeout=timeout)  # its waits watch this forwarder
    wait(system, "the forwarder's list of an Ingress", stored(listed), timeout=timeout)
    listed_at = account.clock()
    edit(system, listed)  # while the forwarder's first list is being ingested
    during_list = watch(system, listeners[listed.name], listed_at, timeout=timeout)
    wait(system, "the forwarder's Resync", resynced(system, before), timeout=timeout)
    backlog = work_backlog(system)
    converged = user_change(system, user, listeners[user.name], timeout=timeout)
    settled(system, timeout=timeout)
    end = mark(account)
    # the users' changes are no adoption: each one's new rule (and the priorities after it), as add-path's
    user_calls = USER_CHANGE_CALLS + USER_CHANGE_CALLS + USER_CHANGE_CALLS
    adopted = {
        **figures(start, end, exclude=user_calls),
        "with_user_change": figures(start, end),
    }
    storm = {
        "during_adoption_s": converged,
        "bulk_backlog_at_edit": backlog,
        "edited_during_the_list_s": during_list(),
        "edited_before_the_list_s": before_list(),
    }
    return {f"scale-adopt-{count}": adopted, "scale-user-change-under-storm": storm}


def work_backlog(system: LocalSystem) -> int:
    """Reconciles on the bulk work queue, waiting or running (its messages visible and in flight)."""
    url = str(system.cloud.deployment.environment["WORK_QUEUE_URL"])
    found = snapshot.sqs().get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(found["ApproximateNumberOfMessages"]) + int(found["ApproximateNumberOfMessagesNotVisible"])


# --- running and recording ------------------------------------------------------------


@contextlib.contextmanager
def realistic_system(*, time_scale: float, provisioning_seconds: float) -> Iterator[LocalSystem]:
    forwarder_env = {"RESYNC_SECONDS": f"{DRIFT_PERIOD_S * time_scale:g}"}  # 10 AWS minutes, like the sweep
    with (
        local_system(
            ROOT,
            time_scale=time_scale,
            realistic=True,
            provisioning_seconds=provisioning_seconds,
            forwarder_env=forwarder_env,
        ) as system,
        contextlib.redirect_stdout(io.StringIO()),  # the functions' metrics lines (EMF) are not the table
    ):
        yield system


def merge(found: dict[str, dict[str, Any]], more: dict[str, dict[str, Any]]) -> None:
    for name, entry in more.items():
        found.setdefault(name, {}).update(entry)


def record(results: dict[str, dict[str, Any]], context: dict[str, Any]) -> None:
    """Merge into bench/results.json: an entry of the same scenario is replaced in place."""
    entries: list[dict[str, Any]] = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    fresh = {name: {"scenario": name, **context, **entry} for name, entry in results.items()}
    merged = [fresh.pop(e.get("scenario", ""), e) for e in entries]
    RESULTS.write_text(json.dumps(merged + list(fresh.values()), indent=2) + "\n")


def verdicts(results: dict[str, dict[str, Any]]) -> list[str]:
    """Each of issue 16's targets, met or not, with the measured figure."""
    lines = []
    for name, entry in results.items():
        if name.startswith("scale-adopt-"):
            lines.append(f"{name}: {entry['mutating_calls']} mutating calls (0 wanted)")
        if name == "scale-restart":
            elbv2 = sum(n for k, n in entry["calls"].items() if k.startswith("elasticloadbalancing:"))
            lines.append(f"scale-restart: {elbv2} ELBv2 calls (0 wanted)")
        if name == "scale-user-change-under-storm":
            for part in ("during_drift_s", "during_adoption_s"):
                if part in entry:
                    lines.append(f"{name}: {part} {entry[part]} AWS s (at most {TARGETS['converged_s']:g} wanted)")
            for part in ("edited_during_the_list_s", "edited_before_the_list_s"):
                if part in entry:
                    lines.append(f"{name}: {part} {entry[part]} AWS s (no target)")
        if name == "scale-steady-state":
            lines.append(
                f"{name}: Describe* {entry['describe_budget_share']:.1%} of the refill (at most 5% wanted); "
                f"repaired in {entry['repair_s']} AWS s by {entry['repaired_by']} (at most 900 wanted)"
            )
    return lines


def table(results: dict[str, dict[str, Any]]) -> str:
    header = ("scenario", "aws s", "wall s", "mutating", "reads", "throttled", "describe", "budget share")
    rows = [
        (
            name,
            e.get("aws_s", "-"),
            e.get("wall_s", "-"),
            e.get("mutating_calls", "-"),
            e.get("read_calls", "-"),
            e.get("throttled_calls", "-"),
            e.get("describe_calls", "-"),
            f"{e['describe_budget_share']:.1%}" if "describe_budget_share" in e else "-",
        )
        for name, e in results.items()
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in (header, *rows)]
    lines.append("")
    for name, e in results.items():
        if "calls_by_kind" in e:
            kinds = ", ".join(f"{k} {n}" for k, n in e["calls_by_kind"].items())
            lines.append(f"{name}: {kinds or 'no calls'}")
            changes = ", ".join(
                f"{k.split(':')[1]} {n}" for k, n in e["calls"].items() if limits.mutating(k.split(":")[1])
            )
            if changes:
                lines.append(f"  mutating: {changes}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, nargs="+", default=[100, 300], help="Ingresses per run (default: 100 300)")
    p.add_argument("--time-scale", type=float, default=0.5, help="wall seconds per AWS second (default: 0.5)")
    p.add_argument(
        "--provisioning-seconds",
        type=float,
        default=limits.PROVISIONING_SECONDS,
        help="a new load balancer's provisioning, AWS seconds (default: %(default)g)",
    )
    p.add_argument("--only", choices=("create", "adopt"), help="one part (default: both)")
    p.add_argument("--timeout", type=float, default=4 * 3600, help="wall seconds any one wait may take")
    p.add_argument("--no-record", action="store_true", help="print only; leave bench/results.json as it is")
    p.add_argument("--json", type=Path, help="also write each size's entries to this file (JSON, one object per size)")
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    context = {"time_scale": args.time_scale, "provisioning_s": args.provisioning_seconds}
    for count in args.count:
        members = layout(count)
        results: dict[str, dict[str, Any]] = {}
        if args.only in (None, "create"):
            with realistic_system(time_scale=args.time_scale, provisioning_seconds=args.provisioning_seconds) as s:
                merge(results, create_part(s, members, timeout=args.timeout))
        if args.only in (None, "adopt"):
            with realistic_system(time_scale=args.time_scale, provisioning_seconds=args.provisioning_seconds) as s:
                merge(results, adopt_part(s, members, timeout=args.timeout))
        storm = results.get("scale-user-change-under-storm", {})
        parts = [storm[k] for k in ("during_drift_s", "during_adoption_s") if k in storm]
        if parts:  # the figure: the worse of the two
            storm["converged_s"] = max(parts)
        size = {"ingresses": count, "groups": len(stacks(members))}
        for entry in results.values():
            entry.update(size)
        print(f"\n{count} Ingresses, {size['groups']} groups, time scale {args.time_scale:g}:\n")
        print(table(results))
        print("\ntargets:")
        for line in verdicts(results):
            print(f"  {line}")
        if not args.no_record:
            record(results, context)
        if args.json is not None:
            with args.json.open("a") as out:
                out.write(json.dumps({name: {**context, **entry} for name, entry in results.items()}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
