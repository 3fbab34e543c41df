"""The local AWS's shortcuts change no answer: with definitions remembered once valid,
an invalid state machine is still refused as moto refuses it, and a valid one is
accepted again."""

from __future__ import annotations

import json
import urllib.request

import moto.backends
import pytest
from botocore.exceptions import ClientError

from albatross.aws import clients
from albatross.local import speed

ROLE = "arn:aws:iam::123456789012:role/sfn"
VALID = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
INVALID = json.dumps({"StartAt": "Nowhere", "States": {"Done": {"Type": "Nope"}}})


def test_invalid_definitions_are_still_refused_and_valid_ones_accepted_again(moto_endpoint: str) -> None:
    # the executing backend (the local system's) is the one that validates definitions
    config = json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode()
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/config", data=config, method="POST")  # noqa: S310  # local server
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310  # local server
        pass
    sfn = clients.sfn()

    def refusal(name: str) -> str:
        with pytest.raises(ClientError) as refused:
            sfn.create_state_machine(name=name, definition=INVALID, roleArn=ROLE)
        return str(refused.value.response["Error"]["Message"])

    as_moto_says = refusal("bad")
    assert "ASLParserException" in as_moto_says
    with speed.asl_validated_once():
        for name in ("first", "second"):
            sfn.create_state_machine(name=name, definition=VALID, roleArn=ROLE)
        assert [refusal("bad-again"), refusal("bad-once-more")] == [as_moto_says, as_moto_says]
    assert sorted(m["name"] for m in sfn.list_state_machines()["stateMachines"]) == ["first", "second"]


def test_moto_finds_each_service_with_its_folder_listed_once(moto_endpoint: str) -> None:
    listed = sorted(moto.backends.list_of_moto_modules())
    with speed.modules_listed_once():
        assert sorted(moto.backends.list_of_moto_modules()) == listed
        # requests to several services still reach their backends
        assert clients.sqs().list_queues().get("QueueUrls", []) == []
        assert clients.elbv2().describe_load_balancers()["LoadBalancers"] == []
    assert sorted(moto.backends.list_of_moto_modules()) == listed
