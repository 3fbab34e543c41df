"""The forwarder's own Kubernetes calls (:mod:`albatross_forwarder.kube`) against the API
double: what reaches it (paths, content types, the watch query), the errors, pages and
watch streams; the configuration in a pod and out of one; and what importing the
forwarder loads of the ``kubernetes`` package."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from albatross.local.kube import KubeDouble
from albatross_forwarder import kube as kube_module
from albatross_forwarder.kube import INGRESSES, LEASES, Kube, Stream

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def client(api: k8s.ApiClient) -> Kube:
    return Kube(api.configuration)


def ingress(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default"}, "spec": {"ingressClassName": "alb"}}


def test_writes_send_json_patches_merge_patches_and_plain_json(client: Kube, kube: KubeDouble) -> None:
    created = client.create(INGRESSES, "default", ingress("web"))
    rv = created["metadata"]["resourceVersion"]
    finalizer = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
        {"op": "add", "path": "/metadata/finalizers", "value": ["f/x"]},
    ]
    assert client.patch(INGRESSES, "default", "web", finalizer)["metadata"]["finalizers"] == ["f/x"]
    with pytest.raises(ApiException) as stale:  # the same guard again: the version moved on
        client.patch(INGRESSES, "default", "web", finalizer)
    assert stale.value.status == 422
    status = {"status": {"loadBalancer": {"ingress": [{"hostname": "h"}]}}}
    patched = client.patch(INGRESSES, "default", "web", status, status=True)
    assert patched["status"] == status["status"]
    assert patched["spec"] == {"ingressClassName": "alb"}
    with pytest.raises(ApiException) as missing:
        client.get(INGRESSES, "default", "nothing")
    assert missing.value.status == 404
    sent = [(r.method, r.path, r.content_type) for r in kube.requests if r.method != "GET"]
    path = "/apis/networking.k8s.io/v1/namespaces/default/ingresses"
    assert sent == [
        ("POST", path, "application/json"),
        ("PATCH", f"{path}/web", "application/json-patch+json"),
        ("PATCH", f"{path}/web", "application/json-patch+json"),
        ("PATCH", f"{path}/web/status", "application/merge-patch+json"),
    ]


def test_a_replace_with_a_stale_version_is_a_conflict(client: Kube) -> None:
    lease = {"metadata": {"name": "l", "namespace": "default"}, "spec": {"holderIdentity": "a"}}
    first = client.create(LEASES, "default", lease)
    client.replace(LEASES, "default", "l", {**first, "spec": {"holderIdentity": "b"}})
    with pytest.raises(ApiException) as conflict:
        client.replace(LEASES, "default", "l", {**first, "spec": {"holderIdentity": "c"}})
    assert conflict.value.status == 409
    assert client.get(LEASES, "default", "l")["spec"] == {"holderIdentity": "b"}


def test_lists_come_page_by_page_and_watches_stream_until_closed(client: Kube, kube: KubeDouble) -> None:
    for name in ("a", "b", "c"):
        client.create(INGRESSES, "default", ingress(name))
    ingresses = client.collection(INGRESSES, field_selector="metadata.namespace!=kube-system")
    names, token, pages = [], None, 0
    while True:
        page = ingresses.list(limit=2, cont=token)
        names += [i["metadata"]["name"] for i in page["items"]]
        token, pages = page["metadata"].get("continue"), pages + 1
        if not token:
            break
    assert (names, pages) == (["a", "b", "c"], 2)
    rv = page["metadata"]["resourceVersion"]
    client.create(INGRESSES, "default", ingress("d"))
    stream = ingresses.watch(rv=rv, timeout=30)
    closer = threading.Timer(0.5, stream.close)  # another thread ends it, as a new leader's relist does
    closer.start()
    started, events = time.monotonic(), []
    with contextlib.suppress(Exception):  # a closed socket ends the read quietly or with an error
        for event in stream:
            events.append((event["type"], event["object"]["metadata"].get("name")))
    assert time.monotonic() - started < 10
    assert events[0] == ("ADDED", "d")
    assert {t for t, _ in events[1:]} <= {"BOOKMARK"}
    watch = next(r for r in kube.requests if r.query.get("watch"))
    assert watch.query == {
        "watch": "true",
        "resourceVersion": rv,
        "allowWatchBookmarks": "true",
        "timeoutSeconds": "30",
        "fieldSelector": "metadata.namespace!=kube-system",
    }


def test_a_watch_that_the_server_ends_ends_the_stream(client: Kube) -> None:
    client.create(INGRESSES, "default", ingress("a"))
    stream: Stream = client.collection(INGRESSES).watch(rv="1", timeout=1)
    assert [e["type"] for e in stream][:1] == ["ADDED"]


def test_in_a_pod_the_service_account_configures_the_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "token").write_text("t-1")
    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setattr(kube_module, "SERVICE_ACCOUNT", tmp_path)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.100.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    config = kube_module.configuration()
    assert (config.host, config.ssl_ca_cert) == ("https://10.100.0.1:443", str(tmp_path / "ca.crt"))
    bearer = config.auth_settings().get("BearerToken")
    assert bearer is not None
    assert (bearer["key"], bearer["value"]) == ("authorization", "bearer t-1")


def test_elsewhere_the_kubeconfig_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:6443'}}]\n"
        "users: [{name: u, user: {token: t-2}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    monkeypatch.setattr(kube_module, "SERVICE_ACCOUNT", tmp_path / "absent")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    config = kube_module.configuration()
    assert config.host == "http://127.0.0.1:6443"
    bearer = config.auth_settings().get("BearerToken")
    assert bearer is not None
    assert bearer["value"] == "Bearer t-2"


def test_importing_the_forwarder_loads_only_the_clients_rest_layer() -> None:
    """In a fresh interpreter, as the image starts: the generated API classes, pydantic
    and the config loaders' dependencies stay out until something uses them."""
    script = (
        "import sys\n"
        "import albatross_forwarder.main\n"
        "heavy = ('pydantic', 'yaml', 'requests', 'oauthlib', 'kubernetes.client.api', 'kubernetes.client.models',"
        " 'kubernetes.config.kube_config', 'kubernetes.watch', 'kubernetes.dynamic')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
        "import kubernetes\n"
        "print(kubernetes.__version__ == kubernetes.client.__version__, kubernetes.watch.Watch.__name__)\n"
    )
    done = subprocess.run(  # noqa: S603  # this interpreter, a fixed script
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=60, check=True
    )
    assert done.stdout.splitlines() == ["[]", "True Watch"]
