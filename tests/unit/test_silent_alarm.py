"""The cloud side notices a silent forwarder (issue 17): ingest publishes ``ResyncsIngested``
for every Resync it applies, in the cluster's own dimension, and ``ForwarderSilentAlarm``
watches exactly that metric (namespace, name, every dimension, as the handler's EMF line
names them), fires on two periods of the forwarder's Resync interval without one, counting
no data as breaching, and notifies the alarm topic as the other alarms do."""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any

import pytest

from albatross.contract import ObjectChange, Resync
from albatross.controller import ingest
from albatross.local.template import load

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded: dict[str, Any] = load(ROOT / "template.yaml")
    return loaded


@pytest.fixture(scope="module")
def alarm(template: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = template["Resources"]["ForwarderSilentAlarm"]["Properties"]
    return props


def resync_seconds() -> int:
    """The forwarder's Resync interval as deployed (forwarder/deploy/forwarder.env)."""
    env = (ROOT / "forwarder" / "deploy" / "forwarder.env").read_text()
    [value] = [line.split("=", 1)[1] for line in env.splitlines() if line.startswith("RESYNC_SECONDS=")]
    return int(value)


def test_the_alarm_fires_on_two_resync_periods_without_one(alarm: dict[str, Any], template: dict[str, Any]) -> None:
    assert alarm["Period"] == resync_seconds()
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (2, 2)
    assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == ("Sum", "LessThanThreshold", 1)
    assert alarm["TreatMissingData"] == "breaching"  # no Resync publishes no data point at all
    others = [
        r["Properties"]["AlarmActions"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"] is not alarm
    ]
    assert others
    assert all(actions == alarm["AlarmActions"] for actions in others)


def _emf(out: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [line for line in lines if "_aws" in line]


@pytest.fixture
def ingest_handler(monkeypatch: pytest.MonkeyPatch, template: dict[str, Any]) -> types.ModuleType:
    """functions/ingest/app.py with the environment the template gives it; its store and
    the snapshot logic stubbed (what is measured is the metric, not ingest)."""
    function = template["Resources"]["IngestFunction"]["Properties"]
    env = {**template["Globals"]["Function"]["Environment"]["Variables"], **function["Environment"]["Variables"]}
    for name, value in env.items():
        if isinstance(value, str):
            monkeypatch.setenv(name, value)
    for name in ("VPC_ID", "STATE_TABLE", "WORK_QUEUE_URL", "WRITEBACK_QUEUE_URL"):
        monkeypatch.setenv(name, "x")
    monkeypatch.setenv("CLUSTER_NAME", "prod-eu")
    from functions.ingest import app  # after the environment it reads at import

    monkeypatch.setattr(app, "Store", lambda table: None)
    monkeypatch.setattr(ingest, "apply_resync", lambda *a, **k: set())  # the module app calls
    monkeypatch.setattr(ingest, "apply_change", lambda *a, **k: set())
    return app


def _event(detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "e1",
        "detail-type": "Resync" if detail["kind"] == "Resync" else "ObjectChange",
        "source": "albatross.k8s",
        "time": "2026-01-01T00:00:00Z",
        "detail": detail,
    }


CONTEXT = types.SimpleNamespace(
    function_name="ingest",
    memory_limit_in_mb=256,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:ingest",
    aws_request_id="r1",
)


def test_each_resync_publishes_the_metric_the_alarm_watches(
    ingest_handler: types.ModuleType, alarm: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    ingest_handler.lambda_handler(_event(Resync(cluster="prod-eu", keys={"Ingress": []}).to_detail()), CONTEXT)
    found = [
        line
        for line in _emf(capsys.readouterr().out)
        if any(m["Name"] == alarm["MetricName"] for d in line["_aws"]["CloudWatchMetrics"] for m in d["Metrics"])
    ]
    [line] = found
    [directive] = [d for d in line["_aws"]["CloudWatchMetrics"] if d["Metrics"][0]["Name"] == alarm["MetricName"]]
    assert directive["Namespace"] == alarm["Namespace"]
    assert line[alarm["MetricName"]] in (1, [1])  # one Resync (EMF writes a value or a list of them)
    # the alarm's dimensions are exactly the data point's (CloudWatch matches all of them)
    wanted = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
    assert sorted(directive["Dimensions"][0]) == sorted(wanted)
    assert wanted["cluster"] == {"Ref": "ClusterName"}  # the stack's own cluster: this one
    assert line["cluster"] == "prod-eu"
    assert line["service"] == wanted["service"]

    change = ObjectChange(
        cluster="prod-eu",
        kind="Namespace",
        action="upsert",
        key="shop",
        resource_version="1",
        object={"metadata": {"name": "shop", "resourceVersion": "1"}},
    )
    ingest_handler.lambda_handler(_event(change.to_detail()), CONTEXT)
    assert alarm["MetricName"] not in capsys.readouterr().out  # an object's change is not the forwarder's Resync
