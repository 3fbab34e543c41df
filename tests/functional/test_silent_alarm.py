"""The cloud side notices a silent forwarder (issue 17): the ingest function, run as Lambda
runs it (the template's environment, its store and queues on moto), publishes
``ResyncsIngested`` as an EMF line for each Resync it applies; ``ForwarderSilentAlarm``,
read from template.yaml and evaluated over those data points as CloudWatch evaluates an
alarm, stays OK while the forwarder resyncs every ``RESYNC_SECONDS`` and fires after two
periods without one, whatever else ingest receives (an object's change, another
cluster's Resync).

The evaluation follows the CloudWatch User Guide ("Evaluating an alarm", "Configuring how
CloudWatch alarms treat missing data"): the alarm looks at its last ``EvaluationPeriods``
periods, each the ``Statistic`` of the data points with exactly the alarm's namespace,
name and dimensions; a period without one counts as ``TreatMissingData`` says; it is in
ALARM when ``DatapointsToAlarm`` of them breach. CloudWatch turns EMF into data points as
the "Embedded metric format specification" says: each directive's metrics, for each of
its dimension sets, the values read from the line's root."""

from __future__ import annotations

import json
import math
import operator
import types
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from albatross.aws import clients
from albatross.contract import ObjectChange, Resync
from albatross.local.cloud import typed
from tests.functional.stack import function_environment, template

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = "prod-eu"
PARAMETERS = {"ClusterName": CLUSTER, "VpcId": "vpc-0123", "ApiBudgetShare": "0"}
COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": operator.ge,
    "GreaterThanThreshold": operator.gt,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}
STATISTIC: dict[str, Callable[[list[float]], float]] = {
    "Sum": sum,
    "SampleCount": len,
    "Maximum": max,
    "Minimum": min,
    "Average": lambda v: sum(v) / len(v),
}


@dataclass(frozen=True)
class Datapoint:
    namespace: str
    name: str
    dimensions: frozenset[tuple[str, str]]
    at: float  # seconds since the epoch
    value: float


def datapoints(out: str) -> list[Datapoint]:
    """The data points CloudWatch extracts from a function's EMF lines."""
    found = []
    for text in out.splitlines():
        if not text.startswith("{"):
            continue
        line = json.loads(text)
        if "_aws" not in line:
            continue
        at = line["_aws"]["Timestamp"] / 1000
        for directive in line["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                dims = frozenset((d, str(line[d])) for d in dimension_set)
                for metric in directive["Metrics"]:
                    values = line[metric["Name"]]
                    for value in values if isinstance(values, list) else [values]:
                        found.append(Datapoint(directive["Namespace"], metric["Name"], dims, at, float(value)))
    return found


def resolve(value: Any) -> str:
    return PARAMETERS[value["Ref"]] if isinstance(value, dict) else str(value)


def alarm_state(alarm: dict[str, Any], points: list[Datapoint], *, at: float) -> str:
    """ALARM or OK for ``alarm`` (its Properties), evaluated at ``at`` (a period's end)."""
    period = alarm["Period"]
    wanted = frozenset((d["Name"], resolve(d["Value"])) for d in alarm["Dimensions"])
    ours = [
        p for p in points if (p.namespace, p.name, p.dimensions) == (alarm["Namespace"], alarm["MetricName"], wanted)
    ]
    end = math.floor(at / period) * period
    breaching = 0
    for n in range(alarm["EvaluationPeriods"]):
        start = end - (n + 1) * period
        values = [p.value for p in ours if start <= p.at < start + period]
        if not values:
            missing = alarm.get("TreatMissingData", "missing")
            assert missing in ("breaching", "notBreaching"), missing  # the only ones evaluated here
            breaching += missing == "breaching"
            continue
        statistic = STATISTIC[alarm["Statistic"]](values)
        breaching += COMPARE[alarm["ComparisonOperator"]](statistic, alarm["Threshold"])
    return "ALARM" if breaching >= alarm.get("DatapointsToAlarm", alarm["EvaluationPeriods"]) else "OK"


@pytest.fixture(scope="module")
def alarm() -> dict[str, Any]:
    """The alarm's properties as a stack deployed with the default parameters has them."""
    props: dict[str, Any] = dict(template()["Resources"]["ForwarderSilentAlarm"]["Properties"])
    assert props["Period"] == {"Ref": "ForwarderResyncSeconds"}
    return {**props, "Period": template()["Parameters"]["ForwarderResyncSeconds"]["Default"]}


def resync_seconds() -> int:
    """The forwarder's Resync interval as deployed (forwarder/deploy/forwarder.env)."""
    env = (ROOT / "forwarder" / "deploy" / "forwarder.env").read_text()
    [value] = [line.split("=", 1)[1] for line in env.splitlines() if line.startswith("RESYNC_SECONDS=")]
    return int(value)


def test_the_alarm_watches_the_resync_period_and_notifies_as_the_others_do(alarm: dict[str, Any]) -> None:
    # its period is the forwarder's interval, a parameter whose default is the forwarder's
    assert alarm["Period"] == resync_seconds()
    # a forwarder told not to resync periodically (0) would keep it firing: no alarm then
    resource = template()["Resources"]["ForwarderSilentAlarm"]
    assert template()["Conditions"][resource["Condition"]] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ForwarderResyncSeconds"}, 0]}]
    }
    others = [
        r["Properties"]["AlarmActions"]
        for r in template()["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"] is not alarm
    ]
    assert others
    assert all(actions == alarm["AlarmActions"] for actions in others)


@pytest.fixture
def ingest(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """functions/ingest/app.py with the environment the template gives it, on moto."""
    for name, value in function_environment("IngestFunction", PARAMETERS).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED")  # as in Lambda: metrics on
    from functions.ingest import app  # after the environment it reads at import

    return app


def _event(n: int, detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"e{n}",
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


def test_resyncs_keep_the_alarm_quiet_and_two_periods_without_one_fire_it(
    ingest: types.ModuleType, alarm: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    change = ObjectChange(
        cluster=CLUSTER,
        kind="Namespace",
        action="upsert",
        key="shop",
        resource_version="1",
        object={"metadata": {"name": "shop", "resourceVersion": "1"}},
    )
    ingest.lambda_handler(_event(1, change.to_detail()), CONTEXT)
    changes = datapoints(capsys.readouterr().out)
    assert changes  # ingest publishes its metrics: the change is counted, as EventsIngested
    ingest.lambda_handler(_event(2, Resync(cluster=CLUSTER, keys={"Ingress": []}).to_detail()), CONTEXT)
    resyncs = datapoints(capsys.readouterr().out)
    monkeypatch.setenv("CLUSTER_NAME", "staging")  # another stack's ingest, in the same account
    ingest.lambda_handler(_event(3, Resync(cluster="staging", keys={"Ingress": []}).to_detail()), CONTEXT)
    elsewhere = datapoints(capsys.readouterr().out)

    period = alarm["Period"]
    first = math.ceil(max(p.at for p in changes + resyncs + elsewhere) / period) * period  # the period after them
    # the forwarder resyncs every RESYNC_SECONDS: the same data points again, each interval
    # (a third of a period after a boundary: when it resyncs is not aligned to CloudWatch's periods)
    heard = [replace(p, at=first + k * period + period / 3) for k in range(6) for p in resyncs]
    noise = [replace(p, at=first + k * period + period / 3) for k in range(12) for p in changes + elsewhere]
    for k in range(1, 7):
        assert alarm_state(alarm, heard + noise, at=first + k * period) == "OK", k
    # then silence: one period without a Resync is not yet an alarm, two are
    assert alarm_state(alarm, heard + noise, at=first + 7 * period) == "OK"
    assert alarm_state(alarm, heard + noise, at=first + 8 * period) == "ALARM"
    # an object's change, or another cluster's Resync, does not count as this forwarder heard
    assert alarm_state(alarm, noise, at=first + 2 * period) == "ALARM"


def test_the_local_stack_deploys_the_alarm_with_its_period_a_number() -> None:
    """CloudFormation turns a Number parameter into the integer PutMetricAlarm takes; the
    offline deploy does too (botocore refused the string "600")."""
    props = template()["Resources"]["ForwarderSilentAlarm"]["Properties"]
    given = {**props, "Period": "600", "Threshold": "1", "Dimensions": [{"Name": "cluster", "Value": "a"}]}
    sent = typed(clients.client("cloudwatch"), "PutMetricAlarm", given)
    assert (sent["Period"], sent["Threshold"], sent["EvaluationPeriods"]) == (600, 1.0, 2)
    assert sent["Dimensions"] == [{"Name": "cluster", "Value": "a"}]
