"""docs/operations.md's walk-through, replayed: an Ingress whose certificate ARN names no
certificate never gets an address; ``albatross status`` shows the failed reconcile and
its error, ``albatross logs`` the group's history with the error line marked, and the
saved query "why is my Ingress not ready" the same error. Fixing the ARN makes it ready.
JSON outputs match docs/schema/logs.v1.json and status.v1.json."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
from kubernetes import client as k8s

from albatross.aws import clients
from albatross.cli import logs, status
from albatross.cli.main import main
from albatross.local.demo import ingress_hostname
from albatross.local.system import LocalSystem, local_system
from tests.e2e.test_slice import apply, events_for

ROOT = Path(__file__).resolve().parents[2]
NS, NAME = "game-2048", "game-2048-tls"
KEY = f"{NS}/{NAME}"
BAD = "arn:aws:acm:us-east-1:123456789012:certificate/0b0e5e1c-0000-4000-8000-000000000000"


@pytest.fixture
def system(tmp_path: Path) -> Iterator[LocalSystem]:
    with local_system(ROOT, work_dir=tmp_path, log_level="INFO") as running:  # INFO: the whole history
        yield running


def schema(name: str) -> dict[str, object]:
    return dict(json.loads((ROOT / "docs/schema" / name).read_text()))


def test_a_bad_certificate_is_found_with_status_and_logs(
    system: LocalSystem, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(system.cloud.deployment.outputs))
    apply(system, ROOT / "examples/2048/2048.yaml")
    # The bad Ingress shares the 2048 Service. Its Service and EndpointSlice must have
    # arrived first: one that arrives after the failed execution (late, on a loaded
    # machine) rightly reconciles the group again, in place, and that attempt is then
    # the last reconcile status shows. Three targets registered: both have arrived.
    system.wait_for("the 2048 targets", lambda: registered(system, f"{NS}/game-2048") == 3, 60)
    apply(system, ROOT / "examples/bad-certificate/ingress.yaml")
    system.wait_for("the Warning", lambda: [e for e in events_for(system, NS, NAME) if e[0] == "Warning"], 30)
    assert ingress_hostname(system, NS, NAME) is None
    system.wait_for("the provision execution to end, nothing pending", lambda: settled(system))

    # status: the load balancer exists, no listener, and the last reconcile failed with AWS's error
    shown = text(["status", KEY, *out(outputs)], capsys)
    assert f"IngressGroup {KEY}  ({KEY})" in shown
    assert "HTTPS:443" not in shown
    assert f"execution failed  errors: UserError: CertificateNotFound: Certificate '{BAD}' not found" in shown, shown
    found = json.loads(text(["status", KEY, "--output", "json", *out(outputs)], capsys))
    jsonschema.validate(found, schema("status.v1.json"))

    # logs: the group's history in time order, the failing step, the error marked
    history = text(["logs", KEY, *out(outputs)], capsys).splitlines()
    assert history[0].startswith(f"IngressGroup {KEY}  ({KEY})  since ")
    steps = [line.split("step=")[1] for line in history if "  applying  " in line]
    # (a slow machine may see a second attempt of the same execution: the first four tell)
    assert steps[:4] == [
        "create SecurityGroup ManagedLBSecurityGroup",
        f"create TargetGroup {KEY}-game-2048:http",
        "create LoadBalancer LoadBalancer",
        "create Listener 443",
    ]
    errors = [line for line in history if "  step       ERROR    execution failed" in line]
    assert errors
    for error in errors:
        assert error.startswith("! ")
        assert f"error=UserError: CertificateNotFound: Certificate '{BAD}' not found" in error
    found = json.loads(text(["logs", KEY, "--output", "json", *out(outputs)], capsys))
    jsonschema.validate(found, schema("logs.v1.json"))
    times = [e["timestamp"] for e in found["entries"]]
    assert times == sorted(times)
    assert {e["source"] for e in found["entries"]} >= {"ingest", "reconcile", "step", "provision"}
    failed = [e["message"] for e in found["entries"] if e["error"]]
    assert failed
    assert set(failed) == {"execution failed"}

    # --follow: the same history once, however often it polls
    polls = iter([False, True])
    followed = list(
        logs.follow(system.cloud.deployment.outputs, group=KEY, since=0, interval=0.1, stop=lambda: next(polls))
    )
    assert [e.to_json() for e in followed] == found["entries"]

    # the saved query, narrowed to the group
    args = ["logs", KEY, "--insights", "why-is-my-ingress-not-ready", *out(outputs)]
    rows = text(args, capsys)
    assert rows.startswith("albatross-albatross-local/why-is-my-ingress-not-ready: ")
    assert "CertificateNotFound" in rows
    found = json.loads(text([*args, "--output", "json"], capsys))
    jsonschema.validate(found, schema("logs.v1.json"))
    assert found["rows"]
    assert {(r["level"], r["group"]) for r in found["rows"]} == {("ERROR", KEY)}

    # the fix: a certificate ACM holds; the next change reconciles again
    good = clients.acm().request_certificate(DomainName="game.example.com")["CertificateArn"]
    k8s.NetworkingV1Api(system.api()).patch_namespaced_ingress(
        NAME, NS, {"metadata": {"annotations": {"alb.ingress.kubernetes.io/certificate-arn": good}}}
    )
    system.wait_for("the address", lambda: ingress_hostname(system, NS, NAME), 30)
    assert "HTTPS:443" in text(["status", KEY, *out(outputs)], capsys)


def registered(system: LocalSystem, group: str) -> int:
    found = status.status(outputs=system.cloud.deployment.outputs, group=group)
    return sum(len(tg["targets"]) for g in found for tg in g["targetGroups"])


def settled(system: LocalSystem) -> bool:
    """The group's last reconcile failed, and no reconcile is running or asked for (read
    directly: what the CLI prints meanwhile may hold the functions' own log lines)."""
    [group] = status.status(outputs=system.cloud.deployment.outputs, group=KEY)
    last = group["lastReconcile"] or {}
    return "failed" in str(last.get("result")) and not any(group["pending"].values())


def out(outputs: Path) -> list[str]:
    return ["--outputs", str(outputs)]


def text(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 0, capsys.readouterr().err
    return capsys.readouterr().out
