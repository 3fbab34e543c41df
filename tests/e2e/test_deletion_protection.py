"""Deletion protection end to end: Albatross never turns it off by itself (LBC's
pkg/ingress/model_builder.go: "deletion_protection is enabled, cannot delete the
ingress: <name>", the build fails, the finalizer stays; AWS refuses DeleteLoadBalancer
while the attribute is on, whoever set it).

For each source of protection (the Ingress's annotation, its IngressClassParams, AWS by
hand), deleting the last Ingress of the group is refused before anything is deleted: a
Warning with the reason and how to release it, the finalizer kept, the load balancer, its
listener, rule and target group intact, no teardown started and no mutating call made on
any of them. Released (the annotation or the params set to false: Albatross turns
protection off first, then deletes; or turned off in AWS), the stack goes with no orphan
and the Ingress with it. A live group whose load balancer would be replaced (a scheme
change) is refused the same way, before anything is created.

docs/operations.md "Deletion protection" runs as written: every ``sh`` block of the
section in order, in bash, in a folder laid out as ``albatross local up`` leaves it
(``.albatross-local`` with its ``env``, sourced, and ``up.json`` naming this process,
which runs the system), so ``albatross local apply`` and the real ``kubectl`` reach the
API double. The Makefile installs no AWS CLI: ``aws`` lines run through a stand-in that
reads them as the CLI does and calls moto (tests/e2e/awscli.py); the CLI runs in a
process of its own, where the local CloudTrail double does not see its calls, so each
mutating call it made is handed to that double as CloudTrail would record it. A plain
block after a command is what it prints, trimmed (``...``): each of its lines must
appear in the real output, ages and the load balancer ARN's random suffix aside.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s

from albatross.aws import clients
from albatross.aws.calls import is_mutating
from albatross.local.awsevents import api_call_detail
from albatross.local.cloud import FAKE_CREDENTIALS
from albatross.local.demo import ingress_gone, ingress_hostname, tagged_resources
from albatross.local.system import LocalSystem, local_system
from albatross.local.up import process_start
from tests.e2e import awscli
from tests.e2e.test_class_params import class_with_params
from tests.e2e.test_slice import apply, events_for, executions, work_queue_idle
from tests.k8s_typing import must

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "operations.md"
SECTION = "## Deletion protection"
NS = NAME = "game-2048"
NAME_LB = "k8s-game2048-game2048-84ef32d818"  # the doc's: LBC's name for the example's group
KEY = "deletion_protection.enabled"
ANNOTATION = "alb.ingress.kubernetes.io/load-balancer-attributes"
KUBECTL = shutil.which("kubectl") or "kubectl"
BASH = shutil.which("bash") or "/bin/bash"


def blocks() -> list[tuple[str, str | None]]:
    """Each ``sh`` block of the section, with the plain block that follows it, if any."""
    text = DOC.read_text()
    start = text.index(f"\n{SECTION}\n")
    section = text[start : text.index("\n## ", start + 1)]
    found: list[tuple[str, str | None]] = []
    lines = section.splitlines()
    i = 0
    while i < len(lines):
        fence = lines[i].strip()
        if fence in ("```sh", "```"):
            end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
            body = "".join(line + "\n" for line in lines[i + 1 : end])
            if fence == "```sh":
                found.append((body, None))
            elif found and found[-1][1] is None:
                found[-1] = (found[-1][0], body)
            i = end
        i += 1
    return found


def _shown(line: str) -> str:
    """A line of kubectl's output with what changes from run to run taken out: runs of
    spaces, an Event's age (``3s``, ``(x2 over 8s)``) and a load balancer ARN's id."""
    line = " ".join(line.split())
    line = re.sub(r" (\d+[smhd])+( \(x\d+ over (\d+[smhd])+\))? albatross ", " AGE albatross ", line)
    return re.sub(r"(:loadbalancer/app/[\w-]+/)[0-9a-f]{16}", r"\1ID", line)


def shows(expected: str, output: str) -> None:
    real = {_shown(line) for line in output.splitlines()}
    for line in expected.splitlines():
        if line.strip() != "...":
            assert _shown(line) in real, f"{line}\nnot in:\n{output}"


class Calls:
    """The mutating ELBv2 and EC2 calls made in this process (the functions run in it),
    in order, with their parameters."""

    def __init__(self) -> None:
        self.made: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._id = f"deletion-protection-calls-{id(self)}"
        clients.add_hook("before-parameter-build.*.*", self._record, unique_id=self._id)

    def _record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        if model.service_model.endpoint_prefix in ("elasticloadbalancing", "ec2") and is_mutating(model.name):
            with self._lock:
                self.made.append((model.name, dict(params)))

    def since(self, mark: int) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            return list(self.made[mark:])

    def mark(self) -> int:
        with self._lock:
            return len(self.made)

    def close(self) -> None:
        clients.remove_hook(self._id)


@pytest.fixture
def calls() -> Iterator[Calls]:
    spy = Calls()
    yield spy
    spy.close()


def the_load_balancer() -> dict[str, Any]:
    [lb] = clients.elbv2().describe_load_balancers()["LoadBalancers"]
    return dict(lb)


def protected(arn: str) -> bool:
    found = clients.elbv2().describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]
    return {a.get("Key"): a.get("Value") for a in found}.get(KEY) == "true"


def stack_of(arn: str) -> dict[str, int]:
    """What the load balancer has under it: listeners, rules (not the defaults), and the
    target groups of the account."""
    elbv2 = clients.elbv2()
    listeners = elbv2.describe_listeners(LoadBalancerArn=arn)["Listeners"]
    rules = [
        r
        for li in listeners
        for r in elbv2.describe_rules(ListenerArn=li["ListenerArn"])["Rules"]
        if not r["IsDefault"]
    ]
    return {
        "listeners": len(listeners),
        "rules": len(rules),
        "targetGroups": len(elbv2.describe_target_groups()["TargetGroups"]),
    }


def warning(system: LocalSystem, reason: str, saying: str = "") -> str | None:
    """The Warning of that reason on the Ingress whose message holds ``saying``, if any
    (events are listed in no particular order)."""
    found = [m for t, r, m in events_for(system, NS, NAME) if t == "Warning" and r == reason and saying in m]
    return found[0] if found else None


def held(system: LocalSystem, name: str = NAME) -> list[str]:
    """The finalizers of the Ingress, which must be being deleted."""
    found = k8s.NetworkingV1Api(system.api()).read_namespaced_ingress(name, NS)
    meta = must(found.metadata)
    assert meta.deletion_timestamp is not None
    return list(meta.finalizers or [])


def refused_intact(
    system: LocalSystem, calls: Calls, *, mark: int, arn: str, before: dict[str, int], teardowns: list[str]
) -> None:
    """The refusal left everything as it was: the finalizer, the stack, no teardown, and
    no mutating call on anything once the queues settled."""
    system.wait_for("the queues to settle", lambda: work_queue_idle(system))
    assert held(system) == ["ingress.k8s.aws/resources"]
    assert the_load_balancer()["LoadBalancerArn"] == arn
    assert stack_of(arn) == before
    assert protected(arn)
    assert executions(system, "TeardownStateMachineArn") == teardowns
    assert calls.since(mark) == []


def lifted_then_deleted(calls: Calls, mark: int, arn: str) -> None:
    """Albatross's own calls after the release: protection off first, then the deletes."""
    made = calls.since(mark)
    names = [name for name, _ in made]
    lift = ("ModifyLoadBalancerAttributes", {"LoadBalancerArn": arn, "Attributes": [{"Key": KEY, "Value": "false"}]})
    assert made[0] == lift, made
    assert "DeleteLoadBalancer" in names


# --- the walk-through, as written ----------------------------------------------------------


@contextmanager
def system_up(tmp_path: Path, *, log_level: str = "WARNING") -> Iterator[tuple[LocalSystem, Path]]:
    """The system, with the folder ``albatross local up`` would leave (albatross.local.up):
    ``.albatross-local`` holding ``kubeconfig``, ``outputs.json``, ``env`` and ``up.json``
    (this process's pid, as the process running the system); ``examples`` beside it."""
    folder = tmp_path / ".albatross-local"
    with local_system(ROOT, work_dir=folder, log_level=log_level) as system:
        (folder / "outputs.json").write_text(json.dumps(system.cloud.deployment.outputs, indent=2) + "\n")
        env = {
            **FAKE_CREDENTIALS,
            "AWS_ENDPOINT_URL": system.cloud.endpoint,
            "KUBECONFIG": str(folder / "kubeconfig"),
            "ALBATROSS_OUTPUTS": str(folder / "outputs.json"),
        }
        (folder / "env").write_text("".join(f"export {k}={v}\n" for k, v in env.items()))
        state = {
            "pid": os.getpid(),
            "started": process_start(os.getpid()),
            "endpoint": system.cloud.endpoint,
            "kube": system.kube.url,
            "cluster": system.cluster,
        }
        (folder / "up.json").write_text(json.dumps(state, indent=2) + "\n")
        (tmp_path / "examples").symlink_to(ROOT / "examples")
        yield system, tmp_path


@pytest.fixture
def local_up(tmp_path: Path) -> Iterator[tuple[LocalSystem, Path]]:
    with system_up(tmp_path) as up:
        yield up


class Shell:
    """Runs a block in bash where ``source .albatross-local/env`` ran: the stand-in
    ``aws``, then the venv's ``albatross``, then PATH; hands the stand-in's mutating
    calls to the local CloudTrail."""

    def __init__(self, system: LocalSystem, folder: Path) -> None:
        self.system, self.folder = system, folder
        self.log = folder / "awscli.log"
        awscli.install(folder / "bin")
        sourced = dict(
            line.removeprefix("export ").split("=", 1)
            for line in (folder / ".albatross-local" / "env").read_text().splitlines()
        )
        path = f"{folder / 'bin'}:{Path(sys.executable).parent}:{os.environ['PATH']}"
        self.env = {**os.environ, **sourced, "PATH": path, "AWSCLI_LOG": str(self.log)}
        self.seen = 0

    def __call__(self, block: str) -> str:
        done = subprocess.run(  # noqa: S603  # the page's block, in bash
            [BASH, "-euo", "pipefail", "-c", block],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=self.folder,
            env=self.env,
        )
        assert done.returncode == 0, f"{block}\n{done.stdout}{done.stderr}"
        self._trail()
        return done.stdout

    def _trail(self) -> None:
        """CloudTrail's record of each mutating call the stand-in made, as the local trail
        records the calls of this process (albatross.local.awsevents)."""
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        events = self.system.cloud.aws_events
        for line in lines[self.seen :]:
            call = json.loads(line)
            if call["service"] != "elbv2" or not is_mutating(call["operation"]):
                continue
            model = clients.elbv2().meta.service_model.operation_model(call["operation"])
            detail = api_call_detail(model, call["params"], call["answer"], function=None, events=events)
            events.put(
                source="aws.elasticloadbalancing",
                detail_type="AWS API Call via CloudTrail",
                detail=detail,
                resources=[],
            )
        self.seen = len(lines)


def test_the_walk_through_runs_as_written(local_up: tuple[LocalSystem, Path], calls: Calls) -> None:
    system, folder = local_up
    shell = Shell(system, folder)
    [protect, delete, describe, release, again, by_hand, describe_by_hand, release_by_hand] = blocks()

    # 1. protected by the annotation, then deleted: refused
    shell(protect[0])
    system.wait_for("the address", lambda: ingress_hostname(system, NS, NAME), 90)
    lb = the_load_balancer()
    arn = str(lb["LoadBalancerArn"])
    assert lb["LoadBalancerName"] == NAME_LB
    system.wait_for("protection on", lambda: protected(arn))
    system.wait_for("the queues to settle", lambda: work_queue_idle(system))
    before = stack_of(arn)
    assert before == {"listeners": 1, "rules": 1, "targetGroups": 1}
    mark = calls.mark()
    shell(delete[0])
    message = system.wait_for("the Warning", lambda: warning(system, "FailedBuildModel"))
    assert message.startswith(
        "Failed build model due to deletion_protection is enabled, cannot delete the ingress: game-2048;"
    )
    assert f"{ANNOTATION}: {KEY}=false" in message
    refused_intact(system, calls, mark=mark, arn=arn, before=before, teardowns=[])
    shows(str(describe[1]), shell(describe[0]))

    # 2. released by the annotation: protection off, then the teardown
    mark = calls.mark()
    shell(release[0])
    system.wait_for("the Ingress to go", lambda: ingress_gone(system, NS, NAME), 90)
    system.wait_for("the teardown to end", lambda: executions(system, "TeardownStateMachineArn") == ["SUCCEEDED"])
    assert tagged_resources(system.cluster) == []
    lifted_then_deleted(calls, mark, arn)

    # 3. protected in AWS by hand (the stand-in CLI), then deleted: refused
    shell(again[0])
    system.wait_for("the address again", lambda: ingress_hostname(system, NS, NAME), 90)
    system.wait_for("the queues to settle", lambda: work_queue_idle(system))
    lb = the_load_balancer()
    arn = str(lb["LoadBalancerArn"])
    assert lb["LoadBalancerName"] == NAME_LB
    before = stack_of(arn)
    mark = calls.mark()
    shell(by_hand[0])
    message = system.wait_for("the Warning", lambda: warning(system, "FailedDeployModel"))
    assert f"load balancer {NAME_LB} has deletion protection enabled in AWS" in message
    assert f"--load-balancer-arn {arn} --attributes Key={KEY},Value=false" in message
    refused_intact(system, calls, mark=mark, arn=arn, before=before, teardowns=["SUCCEEDED"])
    shows(str(describe_by_hand[1]), shell(describe_by_hand[0]))

    # 4. released in AWS: CloudTrail's record of it reconciles the group (no sweep runs)
    mark = calls.mark()
    shell(release_by_hand[0])
    system.wait_for("the Ingress to go", lambda: ingress_gone(system, NS, NAME), 90)
    assert tagged_resources(system.cluster) == []
    made = [name for name, _ in calls.since(mark)]
    assert "DeleteLoadBalancer" in made
    assert "ModifyLoadBalancerAttributes" not in made  # the user turned it off


# --- IngressClassParams -------------------------------------------------------------------


def test_the_class_parameters_protect_until_they_release(system: LocalSystem, calls: Calls) -> None:
    spec = {"loadBalancerAttributes": [{"key": KEY, "value": "true"}]}
    class_with_params(system, params="protected", ingress_class="alb-protected", spec=spec)
    system.wait_for("the address", lambda: ingress_hostname(system, NS, NAME), 90)
    arn = str(the_load_balancer()["LoadBalancerArn"])
    system.wait_for("protection on", lambda: protected(arn))
    system.wait_for("the queues to settle", lambda: work_queue_idle(system))
    before = stack_of(arn)
    api = system.api()
    # the annotation says false: the params win, as for every attribute
    patch = {"metadata": {"annotations": {ANNOTATION: f"{KEY}=false"}}}
    k8s.NetworkingV1Api(api).patch_namespaced_ingress(NAME, NS, patch)
    system.wait_for("the queues to settle", lambda: work_queue_idle(system))
    assert protected(arn)
    mark = calls.mark()
    k8s.NetworkingV1Api(api).delete_namespaced_ingress(NAME, NS)
    message = system.wait_for("the Warning", lambda: warning(system, "FailedBuildModel"))
    assert message.startswith(
        "Failed build model due to deletion_protection is enabled, cannot delete the ingress: game-2048;"
    )
    assert f"set {KEY}=false in IngressClassParams protected loadBalancerAttributes" in message
    refused_intact(system, calls, mark=mark, arn=arn, before=before, teardowns=[])

    mark = calls.mark()
    k8s.CustomObjectsApi(api).patch_cluster_custom_object(
        "elbv2.k8s.aws",
        "v1beta1",
        "ingressclassparams",
        "protected",
        {"spec": {"loadBalancerAttributes": [{"key": KEY, "value": "false"}]}},
    )
    system.wait_for("the Ingress to go", lambda: ingress_gone(system, NS, NAME), 90)
    system.wait_for("the teardown to end", lambda: executions(system, "TeardownStateMachineArn") == ["SUCCEEDED"])
    assert tagged_resources(system.cluster) == []
    lifted_then_deleted(calls, mark, arn)


# --- by hand, without a trail: the drift sweep; and a replacement ----------------------------


def test_protection_set_by_hand_holds_a_replacement_and_a_teardown_until_the_sweep_sees_it_off(
    system: LocalSystem, calls: Calls
) -> None:
    system.cloud.aws_events.trail.logging = False  # no CloudTrail: only the sweep sees what is done by hand
    apply(system, ROOT / "examples/2048/2048.yaml")
    system.wait_for("the address", lambda: ingress_hostname(system, NS, NAME), 90)
    system.wait_for("the queues to settle", lambda: work_queue_idle(system))
    arn = str(the_load_balancer()["LoadBalancerArn"])
    before = stack_of(arn)
    clients.elbv2().modify_load_balancer_attributes(LoadBalancerArn=arn, Attributes=[{"Key": KEY, "Value": "true"}])
    api = k8s.NetworkingV1Api(system.api())

    # a scheme change needs a new load balancer: refused before anything is created
    mark = calls.mark()
    api.patch_namespaced_ingress(
        NAME, NS, {"metadata": {"annotations": {"alb.ingress.kubernetes.io/scheme": "internal"}}}
    )
    message = system.wait_for("the Warning", lambda: warning(system, "FailedDeployModel", "cannot replace it"))
    assert f"load balancer {NAME_LB} has deletion protection enabled in AWS, cannot replace it" in message
    system.wait_for("the queues to settle", lambda: work_queue_idle(system))
    assert [lb["LoadBalancerArn"] for lb in clients.elbv2().describe_load_balancers()["LoadBalancers"]] == [arn]
    assert executions(system, "ProvisionStateMachineArn") == ["SUCCEEDED"]  # the first one only
    assert calls.since(mark) == []
    api.patch_namespaced_ingress(
        NAME, NS, {"metadata": {"annotations": {"alb.ingress.kubernetes.io/scheme": "internet-facing"}}}
    )
    system.wait_for("the queues to settle", lambda: work_queue_idle(system))

    # the teardown, refused; then released by hand and seen by the next sweep
    mark = calls.mark()
    api.delete_namespaced_ingress(NAME, NS)
    system.wait_for("the Warning", lambda: warning(system, "FailedDeployModel", "cannot delete the load balancer"))
    refused_intact(system, calls, mark=mark, arn=arn, before=before, teardowns=[])
    clients.elbv2().modify_load_balancer_attributes(LoadBalancerArn=arn, Attributes=[{"Key": KEY, "Value": "false"}])
    system.wait_for("the queues to settle", lambda: work_queue_idle(system))
    assert held(system) == ["ingress.k8s.aws/resources"]  # nothing told Albatross yet
    system.dispatcher.fire("DriftFunctionDrift")
    system.wait_for("the Ingress to go", lambda: ingress_gone(system, NS, NAME), 90)
    assert tagged_resources(system.cluster) == []
