"""docs/operations.md's walk-through "An Ingress that never gets an address", run as
written, and the section "Reading the state of an Ingress" on the same system.

Every command block of the walk-through runs in bash, in a folder laid out as
``albatross local up`` leaves it (``.albatross-local`` with its ``env``, sourced, and
``up.json`` naming this process, which runs the system), with ``examples`` beside it:
``albatross`` is the venv's, ``kubectl`` the real one, ``aws`` the stand-in
(tests/e2e/awscli.py: the Makefile installs no AWS CLI), ``openssl`` the system's. Each
line of the output a block is shown with must be a line of what it printed, in order
(tests/doc_blocks.py: times, counts, addresses and ids aside).

What it shows: an Ingress whose certificate ARN names no certificate never gets an
address; ``albatross status`` shows the failed reconcile and its error, ``albatross
logs`` the group's history with the error line marked, and the saved query "why is my
Ingress not ready" the same error. A certificate imported into ACM, named on the
Ingress, makes it ready in place. The JSON outputs match docs/schema/logs.v1.json and
status.v1.json (made by the functions the CLI prints them with: in this process the
functions' own log lines would mix with what ``main`` prints).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from albatross.aws import clients
from albatross.cli import insights, logs, status
from albatross.local.demo import ingress_hostname
from albatross.local.system import LocalSystem
from tests.doc_blocks import Block, missing, section_blocks
from tests.e2e.test_deletion_protection import Shell, system_up
from tests.e2e.test_slice import events_for

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "operations.md"
SECTION = "## Walk-through: an Ingress that never gets an address"
READING = "## Reading the state of an Ingress"
NS, NAME = "game-2048", "game-2048-tls"
KEY = f"{NS}/{NAME}"
BAD = "arn:aws:acm:us-east-1:123456789012:certificate/0b0e5e1c-0000-4000-8000-000000000000"


@pytest.fixture
def local_up(tmp_path: Path) -> Iterator[tuple[LocalSystem, Path]]:
    """The system as ``albatross local up`` leaves it, at INFO: the whole history in the logs."""
    with system_up(tmp_path, log_level="INFO") as up:
        yield up


def schema(name: str) -> dict[str, object]:
    return dict(json.loads((ROOT / "docs/schema" / name).read_text()))


def shows(block: Block, printed: str) -> None:
    assert block.shown is not None, block.commands
    lacking = missing(block.shown, printed)
    assert not lacking, f"{block.commands}printed:\n{printed}\nlacks:\n" + "\n".join(lacking)


@pytest.mark.timeout(240)  # a dozen shell blocks, each starting the CLI: minutes on a loaded machine
def test_the_walk_through_runs_as_written(local_up: tuple[LocalSystem, Path]) -> None:
    system, folder = local_up
    shell = Shell(system, folder)
    [describe] = section_blocks(DOC, READING)
    [apply_2048, apply_bad, show_status, show_logs, show_query, fix, logs_since] = section_blocks(DOC, SECTION)

    shell(apply_2048.commands)
    # The bad Ingress shares the 2048 Service. Its Service and EndpointSlice must have
    # arrived first: one that arrives after the failed execution (late, on a loaded
    # machine) rightly reconciles the group again, in place, and that attempt is then
    # the last reconcile status shows. Three targets registered: both have arrived.
    system.wait_for("the 2048 targets", lambda: registered(system, f"{NS}/game-2048") == 3, 60)
    system.wait_for("the 2048 address", lambda: ingress_hostname(system, NS, "game-2048"), 30)

    # "Reading the state of an Ingress": Albatross's Event on it
    described = shell(describe.commands)
    assert re.search(r"^\s+Normal\s+SuccessfullyReconciled\s+.*\balbatross\s", described, re.M), described

    shows(apply_bad, shell(apply_bad.commands))
    system.wait_for("the Warning", lambda: [e for e in events_for(system, NS, NAME) if e[0] == "Warning"], 30)
    assert ingress_hostname(system, NS, NAME) is None
    system.wait_for("the provision execution to end, nothing pending", lambda: settled(system))

    # 1. status: the load balancer exists, no listener, and the last reconcile failed with AWS's error
    shown = shell(show_status.commands)
    shows(show_status, shown)
    assert "HTTPS:443" not in shown
    assert f"execution failed  errors: UserError: CertificateNotFound: Certificate '{BAD}' not found" in shown, shown
    outputs = system.cloud.deployment.outputs
    found = json.loads(status.as_json(status.status(outputs=outputs, group=KEY)))
    jsonschema.validate(found, schema("status.v1.json"))

    # 2. logs: the group's history in time order, the failing step, the error marked
    history = shell(show_logs.commands)
    shows(show_logs, history)
    steps = [line.split("step=")[1] for line in history.splitlines() if "  applying  " in line]
    # (a slow machine may see a second attempt of the same execution: the first four tell)
    assert steps[:4] == [
        "create SecurityGroup ManagedLBSecurityGroup",
        f"create TargetGroup {KEY}-game-2048:http",
        "create LoadBalancer LoadBalancer",
        "create Listener 443",
    ]
    errors = [line for line in history.splitlines() if "  step       ERROR    execution failed" in line]
    assert errors
    for error in errors:
        assert error.startswith("! ")
        assert f"error=UserError: CertificateNotFound: Certificate '{BAD}' not found" in error
    group, members = logs.resolve(outputs, ingress=KEY, group=None)
    entries = logs.history(outputs, group=group, since=0)
    found = json.loads(logs.as_json(entries, group=group, members=members, since=0))
    jsonschema.validate(found, schema("logs.v1.json"))
    times = [e["timestamp"] for e in found["entries"]]
    assert times == sorted(times)
    assert {e["source"] for e in found["entries"]} >= {"ingest", "reconcile", "step", "provision"}
    failed = [e["message"] for e in found["entries"] if e["error"]]
    assert failed
    assert set(failed) == {"execution failed"}

    # --follow: the same history once, however often it polls
    polls = iter([False, True])
    followed = list(logs.follow(outputs, group=KEY, since=0, interval=0.1, stop=lambda: next(polls)))
    assert [e.to_json() for e in followed] == found["entries"]

    # the saved query, narrowed to the group
    rows = shell(show_query.commands)
    shows(show_query, rows)
    assert "CertificateNotFound" in rows
    query = insights.run(outputs, name="why-is-my-ingress-not-ready", group=KEY, since=0, progress=lambda _: None)
    found = json.loads(insights.as_json(query))
    jsonschema.validate(found, schema("logs.v1.json"))
    assert found["rows"]
    assert {(r["level"], r["group"]) for r in found["rows"]} == {("ERROR", KEY)}

    # 3. the fix: a certificate imported into ACM, named on the Ingress; the next change
    # reconciles in place
    assert (
        shell(fix.commands) == f"ingress.networking.k8s.io/{NAME} annotated\n"
    )  # $arn holds the aws line's; openssl prints on stderr
    [imported] = clients.acm().list_certificates()["CertificateSummaryList"]
    system.wait_for("the address", lambda: ingress_hostname(system, NS, NAME), 60)
    # each look runs the CLI in a shell: a few seconds apart on a loaded machine
    last: list[list[str]] = []  # what the last look still missed, for the failure's message

    def fixed_in_logs() -> bool:
        last[:] = [missing(str(logs_since.shown), shell(logs_since.commands))]
        return not last[0]

    try:
        system.wait_for("the fix in the logs", fixed_in_logs, 90, interval=1)
    except TimeoutError as e:
        raise AssertionError(f"{e}; still missing: {last}") from e
    assert "HTTPS:443" in shell(f"albatross status {KEY}")
    [balancer] = [
        lb
        for lb in clients.elbv2().describe_load_balancers()["LoadBalancers"]
        if lb["DNSName"] == ingress_hostname(system, NS, NAME)
    ]
    [listener] = clients.elbv2().describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
    assert listener["Certificates"] == [{"CertificateArn": imported["CertificateArn"]}]


def registered(system: LocalSystem, group: str) -> int:
    found = status.status(outputs=system.cloud.deployment.outputs, group=group)
    return sum(len(tg["targets"]) for g in found for tg in g["targetGroups"])


def settled(system: LocalSystem) -> bool:
    """The group's last reconcile failed, and no reconcile is running or asked for (read
    directly: what the CLI prints meanwhile may hold the functions' own log lines)."""
    [group] = status.status(outputs=system.cloud.deployment.outputs, group=KEY)
    last = group["lastReconcile"] or {}
    return "failed" in str(last.get("result")) and not any(group["pending"].values())
