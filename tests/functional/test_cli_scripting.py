"""The CLI for scripts (issue 17): the exit statuses of README.md's table, ``plan``
live with the stack's settings and the live Service UID, ``--version``, help on every
option, and a closed pipe ended quietly as SIGPIPE ends a Unix tool.

The statuses follow ``terraform plan -detailed-exitcode`` where ``plan`` has the flag
(0 no changes, 1 an error, 2 changes present: terraform's documented codes) and
argparse's 2 for a command line that is wrong otherwise.
"""

from __future__ import annotations

import argparse
import copy
import importlib.metadata
import io
import json
import os
import re
import signal
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from albatross.aws import applier, clients, discovery
from albatross.cli.main import _parser, main
from albatross.cli.plan import load_objects, plan_offline
from albatross.cli.redrive import failure
from albatross.local.system import make_vpc
from albatross.model.config import ControllerConfig
from albatross.model.stack import Stack
from albatross.plan.actual import Actual
from albatross.plan.planner import plan
from albatross.store.table import Store
from tests.functional.stack import state_table

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples/2048/2048.yaml"
CLUSTER = "prod"
SERVICE = "game-2048/game-2048"
LIVE_UID = "5f0c1a4e-8d2b-4c3a-9e7f-2b1d0c9a8e76"  # the cluster's Service, which the file leaves out


def stack_in_moto(tmp_path: Path) -> tuple[Path, str]:
    """What the CLI reads of a deployed stack: an outputs file naming the ingest function
    (its environment holds the controller's settings, as template.yaml's Globals set
    them) and the state table; returns the outputs file and the VPC."""
    vpc = make_vpc(CLUSTER)
    state_table()
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = clients.client("iam").create_role(RoleName="ingest", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", "def lambda_handler(event, context):\n    return {}\n")
    clients.client("lambda").create_function(
        FunctionName="albatross-IngestFunction",
        Runtime="python3.12",
        Role=role["Arn"],
        Handler="app.lambda_handler",
        Code={"ZipFile": code.getvalue()},
        Environment={"Variables": {"CLUSTER_NAME": CLUSTER, "VPC_ID": vpc, "INGRESS_CLASS": "alb"}},
    )
    outputs = tmp_path / "outputs.json"
    outputs.write_text(
        json.dumps(
            {"IngestFunctionName": "albatross-IngestFunction", "StateTableName": "state", "ClusterName": CLUSTER}
        )
    )
    return outputs, vpc


def with_uid(objects: list[dict[str, Any]], uid: str) -> list[dict[str, Any]]:
    found = copy.deepcopy(objects)
    for obj in found:
        if obj["kind"] == "Service":
            obj["metadata"]["uid"] = uid
    return found


def build(objects: list[dict[str, Any]], vpc: str) -> None:
    """What the reconcile would have made of the objects (the live cluster's, UID and all)."""
    [desired] = plan_offline(objects, ControllerConfig(cluster=CLUSTER, vpc_id=vpc), discovery.discover(vpc_id=vpc))[
        "stacks"
    ]
    physical: dict[str, str] = {}
    for step in plan(Stack.from_json(desired), Actual()):
        applier.apply(step, physical)


def test_plan_live_reads_the_stack_and_the_live_service_uid(
    moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs, vpc = stack_in_moto(tmp_path)
    live = ["plan", "-f", str(EXAMPLE), "--outputs", str(outputs), "--detailed-exitcode"]

    # nothing built yet: changes (2); the settings are the stack's, and it says so
    assert main(live) == 2
    found = capsys.readouterr()
    assert found.err.splitlines() == [
        f"planning with the stack's settings: cluster {CLUSTER}, VPC {vpc}, class alb, us-east-1"
    ]
    lines = found.out.splitlines()
    assert lines[0] == (
        f"note Service {SERVICE} has no metadata.uid in the file; target group names hash it, and the state table"
        " has no such Service: its target groups are planned as a new one's"
    )
    assert [line.split()[1] for line in lines[1:]] == ["create"] * 5

    # the cluster's objects, built; the state table holds the Service as ingest stored it
    objects = load_objects([EXAMPLE])
    build(with_uid(objects, LIVE_UID), vpc)
    [service] = [o for o in with_uid(objects, LIVE_UID) if o["kind"] == "Service"]
    Store("state").put_snapshot(kind="Service", key=SERVICE, rv=7, obj=service, deleted=False)

    # the hand-written file (no uid) plans nothing, with the live UID, and says so
    assert main(live) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"note Service {SERVICE} has no metadata.uid in the file; target group names hash it, so the plan uses"
        f" the live Service's, {LIVE_UID}, from the state table",
        "no changes",
    ]
    assert main([*live, "--output", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["steps"] == []
    assert len(document["notes"]) == 1

    # the UID is what decides: another one names another target group (replaced: 2)
    other = tmp_path / "other-uid.yaml"
    other.write_text(yaml.safe_dump_all(with_uid(objects, "0d6c9e7a-0000-4000-8000-000000000001")))
    assert main(["plan", "-f", str(other), "--outputs", str(outputs), "--detailed-exitcode"]) == 2
    steps = capsys.readouterr().out.splitlines()
    assert any(s.split()[1:3] == ["create", "TargetGroup"] for s in steps), steps
    assert any(s.split()[1:3] == ["delete", "TargetGroup"] for s in steps), steps

    # without the flag, changes are no failure: 0, as terraform plan without -detailed-exitcode
    assert main(["plan", "-f", str(other), "--outputs", str(outputs)]) == 0
    capsys.readouterr()

    # --config instead of the stack's settings (a cluster with no stack yet): the UID comes
    # from the state table only when a stack is named, and the note says which it was
    config = tmp_path / "config.yaml"
    config.write_text(f"clusterName: {CLUSTER}\nvpcId: {vpc}\n")
    assert main(["plan", "-f", str(EXAMPLE), "--config", str(config), "--outputs", str(outputs)]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == ["no changes"]
    monkeypatch.delenv("ALBATROSS_OUTPUTS", raising=False)
    assert main(["plan", "-f", str(EXAMPLE), "--config", str(config), "--detailed-exitcode"]) == 2
    assert capsys.readouterr().out.splitlines()[0] == (
        f"note Service {SERVICE} has no metadata.uid in the file; target group names hash it, and no stack is"
        " named to read the live one from (--stack-name or --outputs): its target groups are planned as a new"
        " Service's"
    )

    # a plan with an Ingress that cannot be built fails (1), the plan still printed
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.read_text().replace("scheme: internet-facing", "scheme: sideways"))
    assert main(["plan", "-f", str(bad), "--outputs", str(outputs), "--detailed-exitcode"]) == 1
    assert "error game-2048/game-2048 (stack game-2048/game-2048): " in capsys.readouterr().out


def test_status_of_a_group_or_ingress_that_is_not_there_fails(
    moto_endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs, _ = stack_in_moto(tmp_path)
    aws = ["--outputs", str(outputs)]
    assert main(["status", *aws]) == 0  # every group: none is an answer, not a failure
    assert capsys.readouterr().out == "no IngressGroup found\n"
    assert main(["status", "--group", "shop", *aws]) == 1
    assert capsys.readouterr().err == "albatross status: no IngressGroup shop: albatross status lists every group\n"
    assert main(["status", "shop/web", *aws]) == 1
    assert capsys.readouterr().err.startswith("albatross status: no IngressGroup has Ingress shop/web: ")
    assert main(["status", "web", *aws]) == 2  # not NAMESPACE/NAME: the command line is wrong
    assert capsys.readouterr().err == (
        "albatross status: name an Ingress as NAMESPACE/NAME, not 'web'; or a group with --group\n"
    )


def archive_in_moto(tmp_path: Path) -> Path:
    """What ``replay`` reads of a deployed stack: an outputs file naming the bus and its
    event archive (no ingest log group: there is nothing to count)."""
    events = clients.events()
    bus = events.create_event_bus(Name="albatross")["EventBusArn"]
    archive = events.create_archive(ArchiveName="albatross-events", EventSourceArn=bus)["ArchiveArn"]
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"EventArchiveArn": archive, "EventBusArn": bus}))
    return outputs


@pytest.mark.parametrize(
    ("state", "reason"),
    [("CANCELLED", ""), ("FAILED", "Events could not be delivered to the destination")],
)
def test_a_replay_that_did_not_complete_exits_1_and_says_why(
    moto_endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    state: str,
    reason: str,
) -> None:
    """README.md, "Exit status": a ``replay`` that did not complete exits 1, with one line
    on stderr that says so and what to do next. moto ends every replay COMPLETED before
    StartReplay answers: here it ends as ``state`` instead (CANCELLED: cancelled with
    moto's own CancelReplay; FAILED: with the StateReason AWS gives one)."""
    from moto.events.models import Replay, ReplayState, events_backends

    outputs = archive_in_moto(tmp_path)
    replayed = Replay.replay_events
    described = Replay.describe

    def ended(self: Replay, archive: Any) -> None:
        replayed(self, archive)
        if state == "CANCELLED":
            events_backends[self.account_id][self.region].cancel_replay(self.name)
        else:
            self.state = ReplayState.FAILED

    def describe(self: Replay) -> dict[str, Any]:
        return {**described(self), **({"StateReason": reason} if reason else {})}

    monkeypatch.setattr(Replay, "replay_events", ended)
    monkeypatch.setattr(Replay, "describe", describe)

    assert main(["replay", "--from", "1h", "--outputs", str(outputs)]) == 1
    found = capsys.readouterr()
    [line] = found.out.splitlines()
    assert re.fullmatch(rf"replay (albatross-\S+) {state} in [\d.]+s: events of \S+Z to \S+Z.*", line), line
    name = line.split()[1]
    [err] = found.err.splitlines()
    assert err.startswith(f"albatross replay: replay {name} ended {state}, not COMPLETED"), err
    if reason:
        assert reason in err
    assert "describe-replay" in err  # what to do next


def test_usage_errors_exit_2_and_1_under_detailed_exitcode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"EventArchiveArn": "arn:archive", "EventBusArn": "arn:bus"}))
    assert main(["replay", "--from", "1h", "--to", "2h", "--outputs", str(outputs)]) == 2  # a value it cannot use
    assert capsys.readouterr().err == "albatross replay: --from must be before --to\n"
    with pytest.raises(SystemExit) as usage:
        main(["plan", "--offline"])  # no -f
    assert usage.value.code == 2
    with pytest.raises(SystemExit) as detailed:
        main(["plan", "-f", str(EXAMPLE), "--detailed-exitcode", "--colour"])
    assert detailed.value.code == 1  # 2 would read as "changes"
    assert main(["plan", "--offline", "-f", str(EXAMPLE), "--detailed-exitcode"]) == 1
    assert capsys.readouterr().err.endswith(
        "albatross plan: --detailed-exitcode needs a live plan: an offline plan compares with nothing\n"
    )


def test_version_is_the_distributions(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"albatross {importlib.metadata.version('albatross')}\n"


def _options(parser: argparse.ArgumentParser, path: str) -> list[tuple[str, argparse.Action]]:
    found: list[tuple[str, argparse.Action]] = []
    for action in parser._actions:  # argparse has no public list of a parser's actions
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _options(sub, f"{path} {name}")
        else:
            found.append((path, action))
    return found


def test_every_option_and_argument_has_help() -> None:
    missing = [
        f"{path} {'/'.join(a.option_strings) or a.dest}" for path, a in _options(_parser(), "albatross") if not a.help
    ]
    assert missing == []


def test_a_closed_pipe_ends_the_command_quietly_as_sigpipe_would(tmp_path: Path) -> None:
    """``albatross ... | head``: the reader is gone before the command writes; no
    ``[Errno 32] Broken pipe``, no traceback, and the status a shell shows for a tool
    SIGPIPE ended (128 + 13)."""
    read, write = os.pipe()
    os.close(read)  # no reader at all: the first write fails, whatever the timing
    try:
        done = subprocess.run(  # our own CLI, arguments from this test
            [
                sys.executable,
                "-m",
                "albatross.cli.main",
                "plan",
                "--offline",
                "-f",
                "examples/2048/2048.yaml",
                "--config",
                "examples/plan/config.yaml",
                "--discovery",
                "examples/plan/discovery.json",
            ],
            cwd=ROOT,
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write)
    assert done.stderr == ""
    assert done.returncode == 128 + signal.SIGPIPE


@pytest.mark.parametrize(
    "argv",
    [
        ["local", "down"],
        ["local", "apply", "-f", "examples/2048/2048.yaml"],
        ["local", "scale", "game-2048/game-2048", "5"],
        ["plan", "--offline", "-f", "examples/2048/2048.yaml"],
    ],
)
def test_commands_that_need_no_offline_system_do_not_load_moto(tmp_path: Path, argv: list[str]) -> None:
    """moto and the offline system take seconds to import: only ``local up`` and
    ``demo`` need them (``local down`` took 3 s to say "not running")."""
    probe = (
        "import sys\n"
        "from albatross.cli.main import main\n"
        f"code = main({[*argv, *(['--dir', str(tmp_path)] if argv[0] == 'local' else [])]!r})\n"
        "print(code, sorted({m.split('.')[0] for m in sys.modules} & {'moto', 'werkzeug', 'docker'}))\n"
    )
    done = subprocess.run(  # noqa: S603  # our own CLI in a fresh interpreter: this one has moto loaded already
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    code, loaded = done.stdout.splitlines()[-1].split(" ", 1)
    assert loaded == "[]", done.stdout + done.stderr
    if argv[0] == "local":  # nothing runs there: one line that says so
        assert code == "1"
        assert "albatross local up is not running" in done.stderr


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (
            b'{"errorType": "AlbatrossError", "errorMessage": "the table\\n is unavailable"}',
            "AlbatrossError: the table is unavailable",
        ),
        (b'{"errorType": "Timeout"}', "Timeout"),
        (b"Task timed out after 60.00 seconds", "Task timed out after 60.00 seconds"),
        (b"", "no reason given"),
    ],
)
def test_a_failed_invocation_reads_as_one_line(payload: bytes, reason: str) -> None:
    """What ``redrive`` shows for a message ingest refused: Lambda's error payload
    (``errorType``, ``errorMessage``) as one line, never a bytes repr."""
    assert failure(payload) == reason


def test_redrive_says_how_far_it_got_as_it_goes(
    moto_endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A long redrive shows progress on stderr (the queue it reads, then a line every 25
    messages) and its table on stdout; every message goes back to its queue."""
    sqs = clients.sqs()
    source = sqs.create_queue(QueueName="writeback")["QueueUrl"]
    dead = sqs.create_queue(QueueName="writeback-dlq")["QueueUrl"]
    for n in range(60):
        sqs.send_message(QueueUrl=dead, MessageBody=json.dumps({"kind": "event", "n": n}))
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"WritebackDeadLetterQueueUrl": dead, "WritebackQueueUrl": source}))

    assert main(["redrive", "--queue", "writeback", "--outputs", str(outputs)]) == 0
    printed = capsys.readouterr()
    assert printed.err.splitlines() == [
        "writeback: reading its dead-letter queue ...",
        "writeback: 25 message(s) so far ...",
        "writeback: 50 message(s) so far ...",
    ]
    assert printed.out.splitlines()[-1] == "sent back 60 message(s)"
    moved = sqs.get_queue_attributes(QueueUrl=source, AttributeNames=["ApproximateNumberOfMessages"])
    assert moved["Attributes"]["ApproximateNumberOfMessages"] == "60"
