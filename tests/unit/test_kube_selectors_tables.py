"""The API double's selectors and Table cells against the API server's rules (apimachinery's
label and field selector grammar, ``HumanDuration``, the Accept negotiation)."""

from __future__ import annotations

import pytest

from albatross.local.selectors import SelectorError, parse
from albatross.local.tables import human_duration, wanted

POD = {
    "metadata": {"name": "web-0", "namespace": "shop", "labels": {"app": "web", "tier": "front", "rank": "3"}},
    "spec": {"nodeName": "node-1"},
    "status": {"phase": "Running"},
}


@pytest.mark.parametrize(
    ("labels", "matches"),
    [
        ("app=web", True),
        ("app==web,tier=front", True),
        ("app!=web", False),
        ("missing!=x", True),  # != matches an object without the label
        ("app in (api, web)", True),
        ("app notin (web)", False),
        ("missing notin (web)", True),
        ("tier", True),
        ("!tier", False),
        ("!missing", True),
        ("rank>2", True),
        ("rank<3", False),
        ("app in (web),!missing,tier", True),
    ],
)
def test_label_selectors(labels: str, matches: bool) -> None:
    assert parse("Pod", labels=labels).matches(POD) is matches


@pytest.mark.parametrize(
    ("fields", "matches"),
    [
        ("metadata.name=web-0", True),
        ("metadata.namespace!=shop", False),
        ("spec.nodeName=node-1,status.phase==Running", True),
        ("spec.nodeName=", False),
        ("metadata.name=web\\,0", False),  # an escaped comma is part of the value
    ],
)
def test_field_selectors(fields: str, matches: bool) -> None:
    assert parse("Pod", fields=fields).matches(POD) is matches


def test_unsupported_fields_and_bad_selectors() -> None:
    with pytest.raises(SelectorError, match=r"field label not supported: spec\.nodeName"):
        parse("Ingress", fields="spec.nodeName=x")
    with pytest.raises(SelectorError, match=r"field label not supported: status\.phase"):
        parse("Event", fields="status.phase=x")
    for bad in ("app in web", "rank>x", "=x"):
        with pytest.raises(SelectorError):
            parse("Pod", labels=bad)
    event = {"involvedObject": {"uid": "u-1", "kind": "Ingress"}, "source": {"component": "albatross"}}
    assert parse("Event", fields="involvedObject.uid=u-1,involvedObject.kind=Ingress,source=albatross").matches(event)
    # "source" is source.component, else the reporting controller (events.k8s.io's writers)
    assert parse("Event", fields="source=kubelet").matches({"reportingComponent": "kubelet"})
    assert not parse("Event", fields="source=kubelet").matches({**event, "reportingComponent": "kubelet"})


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (-1, "0s"),
        (-2, "<invalid>"),
        (0, "0s"),
        (119, "119s"),
        (120, "2m"),
        (121, "2m1s"),
        (599, "9m59s"),
        (600, "10m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 60, "3h1m"),
        (8 * 3600, "8h"),
        (47 * 3600, "47h"),
        (48 * 3600, "2d"),
        (49 * 3600, "2d1h"),
        (8 * 86400, "8d"),
        (2 * 365 * 86400, "2y"),
        (2 * 365 * 86400 + 86400, "2y1d"),
        (8 * 365 * 86400, "8y"),
    ],
)
def test_ages_read_as_kubectl_prints_them(seconds: int, shown: str) -> None:
    assert human_duration(seconds) == shown


def test_the_accept_header_decides_table_or_json() -> None:
    assert (
        wanted(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
        )
        == "v1"
    )
    assert wanted("application/json;as=Table;v=v1beta1;g=meta.k8s.io") == "v1beta1"
    assert wanted("application/json") is None
    assert wanted("application/json, application/json;as=Table;v=v1;g=meta.k8s.io") is None
    assert wanted(None) is None
