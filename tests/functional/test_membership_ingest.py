"""Ingest records an Ingress's membership by the membership rules (issue 15,
:mod:`albatross.contract.membership`), against moto's DynamoDB and SQS: an Ingress that
names no class joins the group its default IngressClass's IngressClassParams set (LBC's
class loader takes the default class, its parameters included), and moves to its own
implicit group when that class stops being the default, with no change of its own."""

from __future__ import annotations

from typing import Any

from albatross.aws import clients
from albatross.contract import ObjectChange
from albatross.controller.ingest import apply_change
from albatross.store.table import Store
from tests.functional import stack
from tests.functional.test_store import table

DEFAULT = "ingressclass.kubernetes.io/is-default-class"


def change(kind: str, obj: dict[str, Any], rv: int) -> ObjectChange:
    meta = obj["metadata"]
    key = f"{meta['namespace']}/{meta['name']}" if meta.get("namespace") else meta["name"]
    meta["resourceVersion"] = str(rv)
    return ObjectChange(cluster="c1", kind=kind, action="upsert", key=key, resource_version=str(rv), object=obj)


def ingress_class(default: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {"name": "alb", "uid": "c1", "annotations": {DEFAULT: default}},
        "spec": {
            "controller": "ingress.k8s.aws/alb",
            "parameters": {"apiGroup": "elbv2.k8s.aws", "kind": "IngressClassParams", "name": "edge"},
        },
    }


def test_an_ingress_without_a_class_joins_the_default_class_s_group(moto_endpoint: str) -> None:
    store: Store = table()
    queue = clients.sqs().create_queue(QueueName="work")["QueueUrl"]
    settings = stack.settings(work_queue_url=queue)
    params = {
        "apiVersion": "elbv2.k8s.aws/v1beta1",
        "kind": "IngressClassParams",
        "metadata": {"name": "edge", "uid": "p1"},
        "spec": {"group": {"name": "edge"}},
    }
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "web", "namespace": "shop", "uid": "u1", "annotations": {}},
        "spec": {"defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}},
    }
    apply_change(change("IngressClassParams", params, 1), settings=settings, store=store, event_id="e1")
    apply_change(change("IngressClass", ingress_class("true"), 2), settings=settings, store=store, event_id="e2")

    assert apply_change(change("Ingress", ingress, 3), settings=settings, store=store, event_id="e3") == {"edge"}
    assert set(store.members("edge")) == {"shop/web"}

    # no longer the default: the Ingress is alone in its implicit group; both groups are
    # reconciled (the old one sees it leave)
    groups = apply_change(
        change("IngressClass", ingress_class("false"), 4), settings=settings, store=store, event_id="e4"
    )
    assert {"edge", "shop/web"} <= groups
    assert set(store.members("shop/web")) == {"shop/web"}
