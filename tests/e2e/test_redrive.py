"""Poison events end in the dead-letter queue, kept whole; ``albatross redrive`` lists
them (``--dry-run`` changes nothing); sent back while the cause is still there, ingest
refuses each again: the table gives each one's reason in one readable line (the
function's error, not its raw payload), they stay in the queue and the exit status is 1;
once the cause is gone they are sent back, and the Ingress then becomes ready."""

from __future__ import annotations

import json
import re
from pathlib import Path

from kubernetes import utils

from albatross.aws import clients
from albatross.cli.main import main
from albatross.local.demo import ingress_hostname
from albatross.local.faults import Fault, inject
from albatross.local.system import LocalSystem

ROOT = Path(__file__).resolve().parents[2]
NS = NAME = "game-2048"


def waiting(system: LocalSystem) -> int:
    url = str(system.output("IngestDeadLetterQueueUrl"))
    attrs = clients.sqs().get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def test_dead_letters_are_listed_then_sent_back(system: LocalSystem, tmp_path: Path, capsys: object) -> None:
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(system.cloud.deployment.outputs))
    # the state table refuses every write while the Ingress and its Service arrive
    down = Fault("dynamodb", "PutItem", "InternalServerError", "the table is unavailable", status=500, times=10_000)
    with inject(down):
        utils.create_from_yaml(system.api(), str(ROOT / "examples/2048/2048.yaml"))  # type: ignore[no-untyped-call]  # untyped in the client
        # all of them: the Ingress's among them (on a loaded machine its tries may end last)
        system.wait_for("the events in the dead-letter queue", lambda: waiting(system) >= 3 and delivered(system))
        held = waiting(system)

        # sent back too early: each one refused again, said in one line, and kept
        assert main(["redrive", "--queue", "ingest", "--outputs", str(outputs)]) == 1
        shown = capsys.readouterr().out.splitlines()  # type: ignore[attr-defined]  # pytest's capsys
    rows = [line for line in shown if line.startswith("ingest ")]
    assert len(rows) == held, shown
    for row in rows:  # the function's errorType and errorMessage, whole, not a bytes repr
        assert re.search(r"still failing, left in the DLQ: ingest refused it: \w+: .*the table is unavailable", row), (
            row
        )
        assert "b'" not in row
        assert "errorType" not in row
    assert shown[-1] == (
        f"sent back 0 message(s); {held} still failing, left in the dead-letter queue"
        " (fix the cause, then redrive again)"
    )
    assert waiting(system) == held
    assert ingress_hostname(system, NS, NAME) is None

    assert main(["redrive", "--queue", "ingest", "--dry-run", "--outputs", str(outputs)]) == 0
    listed = capsys.readouterr().out  # type: ignore[attr-defined]  # pytest's capsys
    assert f"Ingress {NS}/{NAME}" in listed
    assert "would send back" in listed
    assert waiting(system) >= 3

    # an event in flight as the table came back (its last try failed) still lands in the
    # dead-letter queue: once no event is left to deliver, the queue holds all there will be
    system.wait_for("every event delivered or dead-lettered", lambda: delivered(system))
    assert main(["redrive", "--outputs", str(outputs)]) == 0
    assert "sent back" in capsys.readouterr().out  # type: ignore[attr-defined]  # pytest's capsys
    system.wait_for("the address", lambda: ingress_hostname(system, NS, NAME))
    assert waiting(system) == 0


def delivered(system: LocalSystem) -> bool:
    """No event waits on, or is taken from, the ingest function's rule queues, and no
    invocation runs."""
    ingest = system.function("IngestFunction")
    for route in system.cloud.deployment.rule_routes:
        if route.function != ingest:
            continue
        attrs = clients.sqs().get_queue_attributes(
            QueueUrl=route.queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",  # waiting
                "ApproximateNumberOfMessagesNotVisible",  # taken
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        if any(count != "0" for count in attrs.values()):
            return False
    return not system.dispatcher.busy()
