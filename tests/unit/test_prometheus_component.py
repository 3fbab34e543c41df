"""The ``prometheus`` component (issue 17): rendered with the base as docs/operations.md
shows it, it adds a metrics Service and a PodMonitor that reach every forwarder pod's
metrics port (ready or not), and a PrometheusRule whose every expression parses as PromQL
and names only metrics, and groups only by labels, that the forwarder's /metrics really
serves, covering the signals the issue names: no leader, queue lag, failed sends, watch
restarts, and delivery failing."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]  # the package ships no type information
import promql_parser
import pytest
import yaml
from kubernetes import client as k8s

from albatross_forwarder.health import render
from albatross_forwarder.kube import Kube
from albatross_forwarder.main import Config, Forwarder
from tests.doc_blocks import missing, section_blocks
from tests.unit.test_deploy import KUBERNETES_VERSIONS, _kubectl, one

ROOT = Path(__file__).resolve().parents[2]
OPERATIONS = ROOT / "docs" / "operations.md"
SECTION = "## Prometheus alerts for the forwarder"
# labels a PodMonitor's targets carry besides the metric's own (prometheus-operator)
TARGET_LABELS = {"namespace", "pod", "container", "endpoint", "job", "instance"}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The page's command block, run as written in a directory beside a copy of the
    repository's forwarder/ (a symlink): its output is the page's, and its overlay is what
    the rest of this module reads."""
    [block] = section_blocks(OPERATIONS, SECTION)
    work = tmp_path_factory.mktemp("prometheus")
    (work / "forwarder").symlink_to(ROOT / "forwarder")
    env = {**os.environ, "PATH": f"{Path(_kubectl()).parent}{os.pathsep}{os.environ['PATH']}"}
    out = subprocess.run(  # noqa: S603  # bash runs the doc's own block; kubectl renders locally
        ["/bin/bash", "-euo", "pipefail", "-c", block.commands],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert block.shown is not None
    assert missing(block.shown, out.stdout) == []
    overlay = next(p.parent for p in work.rglob("kustomization.yaml") if "forwarder" not in p.parts)
    again = subprocess.run(  # noqa: S603  # kubectl from PATH, a local overlay: nothing contacted
        [_kubectl(), "kustomize", str(overlay)], capture_output=True, text=True, timeout=60, check=True
    )
    return [d for d in yaml.safe_load_all(again.stdout) if d]


def _pod_template(docs: list[dict[str, Any]]) -> dict[str, Any]:
    template: dict[str, Any] = one(docs, "Deployment")["spec"]["template"]
    return template


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_metrics_service_reaches_every_pod_ready_or_not(rendered: list[dict[str, Any]], version: str) -> None:
    service = one(rendered, "Service", "albatross-forwarder-metrics")
    kubernetes_validate.validate(service, version, strict=True)
    pod = _pod_template(rendered)
    assert service["metadata"]["namespace"] == one(rendered, "Deployment")["metadata"]["namespace"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    [container] = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    [port] = service["spec"]["ports"]
    assert port["targetPort"] in ports
    assert service["spec"]["publishNotReadyAddresses"] is True  # the unready leader is the one to watch


def test_the_pod_monitor_scrapes_the_metrics_port_of_the_forwarder_pods(rendered: list[dict[str, Any]]) -> None:
    monitor = one(rendered, "PodMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["namespace"] == one(rendered, "Deployment")["metadata"]["namespace"]
    pod = _pod_template(rendered)
    assert monitor["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    assert "namespaceSelector" not in monitor["spec"]  # its own namespace: the forwarder's
    [endpoint] = monitor["spec"]["podMetricsEndpoints"]
    [container] = pod["spec"]["containers"]
    health = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert endpoint["port"] in health
    assert endpoint["path"] == "/metrics"
    # the port the forwarder serves /metrics on is the one the pod names
    probe = container["readinessProbe"]["httpGet"]
    assert probe["port"] == endpoint["port"]


def served_metrics() -> dict[str, set[str]]:
    """Every metric the forwarder's /metrics serves (as the health server renders it), and
    the labels of its samples. A forwarder made, never started: nothing is contacted."""
    configuration = k8s.Configuration()
    configuration.host = "http://127.0.0.1:9"
    config = Config(cluster="c", event_bus="b", writeback_queue_url="http://127.0.0.1:9/q")
    forwarder = Forwarder(config, kube=Kube(configuration), events_client=None, sqs_client=None)
    names: dict[str, set[str]] = {}
    for line in render(forwarder.metrics()).splitlines():
        if line.startswith("# TYPE "):
            names.setdefault(line.split()[2], set())
    for metric in forwarder.metrics():
        for labels, _ in metric.samples:
            names[metric.name] |= set(labels)
    return names


def _walk(node: Any) -> Iterator[Any]:
    """Every node of a parsed PromQL expression."""
    yield node
    for attribute in ("lhs", "rhs", "expr", "vector_selector", "param"):
        child = getattr(node, attribute, None)
        if child is not None and not isinstance(child, str | int | float):
            yield from _walk(child)
    for arg in getattr(node, "args", None) or []:
        yield from _walk(arg)


def _selectors(expr: str) -> list[str]:
    return [n.name for n in _walk(promql_parser.parse(expr)) if type(n).__name__ == "VectorSelector"]


def _grouping(expr: str) -> set[str]:
    labels: set[str] = set()
    for node in _walk(promql_parser.parse(expr)):
        modifier = getattr(node, "modifier", None)
        if type(node).__name__ == "AggregateExpr" and modifier is not None:
            labels |= set(modifier.labels)
    return labels


def test_every_alert_parses_and_names_only_what_the_forwarder_serves(rendered: list[dict[str, Any]]) -> None:
    rule = one(rendered, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["namespace"] == one(rendered, "Deployment")["metadata"]["namespace"]
    served = served_metrics()
    alerts = [r for group in rule["spec"]["groups"] for r in group["rules"]]
    used: set[str] = set()
    for alert in alerts:
        names = _selectors(alert["expr"])
        assert names, alert["alert"]
        unknown = set(names) - set(served)
        assert not unknown, (alert["alert"], unknown)
        labels = set().union(*(served[n] for n in names)) | TARGET_LABELS
        assert _grouping(alert["expr"]) <= labels, alert["alert"]
        assert alert["labels"]["severity"] in ("warning", "critical")
        assert alert["annotations"]["summary"]
        used |= set(names)
    # the signals: not leader anywhere, queue lag, failed sends, watch restarts
    prefix = "albatross_forwarder_"
    for signal in ("is_leader", "queue_lag_seconds", "events_failed_total", "watch_restarts_total"):
        assert prefix + signal in used, signal
    assert prefix + "delivery_failing_seconds" in used


def test_the_checks_here_catch_a_name_the_forwarder_does_not_serve() -> None:
    assert _selectors("max(albatross_forwarder_is_leadr) < 1 or absent(albatross_forwarder_is_leader)") == [
        "albatross_forwarder_is_leadr",
        "albatross_forwarder_is_leader",
    ]
    assert "albatross_forwarder_is_leadr" not in served_metrics()
    assert _selectors("sum by (pod) (increase(x_total[10m])) > 0") == ["x_total"]
    assert _grouping("sum by (pod, kind) (increase(x_total[10m])) > 0") == {"pod", "kind"}
    with pytest.raises(ValueError):  # noqa: PT011  # the parser's own error type is a ValueError
        promql_parser.parse("sum by (pod (x)")
