"""Pieces of the stack made on the functional tests' moto as template.yaml defines them,
without deploying all of it: the state table, a function's environment with every ``Ref``
it holds resolved (parameters to the values given, the queues, table and bucket it names
created), and the controller's settings for a test that calls the controller's code."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from albatross.aws import clients
from albatross.controller.settings import Settings
from albatross.local.template import load
from albatross.store.table import Store

ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def template() -> dict[str, Any]:
    loaded: dict[str, Any] = load(ROOT / "template.yaml")
    return loaded


def _properties(logical: str) -> dict[str, Any]:
    props: dict[str, Any] = template()["Resources"][logical].get("Properties", {})
    return props


def state_table(name: str = "state") -> Store:
    """The state table, keyed as the template's ``StateTable`` is."""
    props = _properties("StateTable")
    clients.dynamodb().create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=props["AttributeDefinitions"],
        KeySchema=props["KeySchema"],
    )
    return Store(name)


def settings(**fields: Any) -> Settings:
    """The controller's settings on the state table ``state``: cluster ``c1`` in ``vpc-1``,
    no queue and no state machine unless ``fields`` name them."""
    base: dict[str, Any] = {
        "cluster": "c1",
        "vpc_id": "vpc-1",
        "region": "us-east-1",
        "table": "state",
        "work_queue_url": "",
        "writeback_queue_url": "",
        "provision_state_machine": "",
        "teardown_state_machine": "",
    }
    return Settings(**(base | fields))


def make(logical: str) -> str:
    """Create the template's resource ``logical`` (a queue, the state table, a bucket) and
    return what ``Ref`` gives for it: a queue's URL, a table's or a bucket's name."""
    kind = template()["Resources"][logical]["Type"]
    name = logical.lower()
    if kind == "AWS::SQS::Queue":
        fifo = bool(_properties(logical).get("FifoQueue"))
        sqs: Any = clients.sqs()  # the typed client wants its attribute names as literals
        url: str = sqs.create_queue(
            QueueName=name + (".fifo" if fifo else ""), Attributes={"FifoQueue": "true"} if fifo else {}
        )["QueueUrl"]
        return url
    if kind == "AWS::DynamoDB::Table":
        state_table(name)
        return name
    if kind == "AWS::S3::Bucket":
        clients.s3().create_bucket(Bucket=name)
        return name
    raise ValueError(f"{logical}: {kind} is not made here")


def function_environment(function: str, parameters: Mapping[str, str]) -> dict[str, str]:
    """The environment the template gives ``function`` (Globals, then its own), each
    ``Ref`` resolved: a parameter to ``parameters`` (or its default), a resource made."""
    resources = template()["Resources"]
    declared = template().get("Parameters", {})
    variables = {
        **template()["Globals"]["Function"]["Environment"]["Variables"],
        **resources[function]["Properties"].get("Environment", {}).get("Variables", {}),
    }
    made: dict[str, str] = {}
    env: dict[str, str] = {}
    for variable, value in variables.items():
        if isinstance(value, str):
            env[variable] = value
            continue
        ref = value["Ref"]  # the template's environment holds literals and Refs only
        if ref in resources:
            made.setdefault(ref, make(ref))
            env[variable] = made[ref]
        else:
            env[variable] = str(parameters.get(ref, declared[ref].get("Default", "")))
    return env
