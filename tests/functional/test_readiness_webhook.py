"""The readiness gates' admission webhook over HTTPS on 127.0.0.1 (ADR 0014): what the API
server would send, what it gets back, a certificate renewed in place, and the answers
left to the failurePolicy."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from albatross_forwarder.webhook import PATH, Certificate, GateTable, WebhookServer

GATE = "target-health.elbv2.k8s.aws/k8s-readines-web-0123456789"
GATES = {"data": {"readiness": json.dumps({"web": {"selector": {"app": "web"}, "gates": [GATE]}})}}


def certificate(folder: Path, serial: int) -> bytes:
    """A self-signed certificate for 127.0.0.1 written to folder/tls.crt and tls.key; its DER."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "albatross-webhook")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (folder / "tls.key").write_bytes(key_pem)
    (folder / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert.public_bytes(serialization.Encoding.DER)


@pytest.fixture
def webhook(tmp_path: Path) -> Iterator[tuple[WebhookServer, Path]]:
    certificate(tmp_path, 1)
    table = GateTable()
    table.update(GATES)
    server = WebhookServer(
        host="127.0.0.1",
        port=0,
        certificate=Certificate(str(tmp_path / "tls.crt"), str(tmp_path / "tls.key")),
        gated=table,
    )
    server.start()
    try:
        yield server, tmp_path
    finally:
        server.stop()


def client(folder: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(folder / "tls.crt"))


def post(server: WebhookServer, folder: Path, body: bytes, path: str = PATH) -> tuple[int, Any]:
    request = urllib.request.Request(  # https on 127.0.0.1 only
        f"https://127.0.0.1:{server.port}{path}",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30, context=client(folder)) as answer:  # noqa: S310  # as above
            return int(answer.status), json.loads(answer.read())
    except urllib.error.HTTPError as e:
        return int(e.code), json.loads(e.read())


def review(labels: dict[str, str]) -> bytes:
    pod = {"metadata": {"generateName": "web-", "labels": labels}, "spec": {"containers": [{"name": "c"}]}}
    request = {
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "namespace": "readiness",
        "operation": "CREATE",
        "object": pod,
    }
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}).encode()


def test_a_pod_a_gated_service_selects_gets_its_gate(webhook: tuple[WebhookServer, Path]) -> None:
    server, folder = webhook
    status, answer = post(server, folder, review({"app": "web"}))
    assert status == 200
    assert answer["apiVersion"] == "admission.k8s.io/v1"
    assert answer["kind"] == "AdmissionReview"
    response = answer["response"]
    assert (response["uid"], response["allowed"], response["patchType"]) == (
        "705ab4f5-6393-11e8-b7cc-42010a800002",
        True,
        "JSONPatch",
    )
    assert json.loads(base64.b64decode(response["patch"])) == [
        {"op": "add", "path": "/spec/readinessGates", "value": [{"conditionType": GATE}]}
    ]
    status, answer = post(server, folder, review({"app": "other"}))
    assert status == 200
    assert "patch" not in answer["response"]
    assert answer["response"]["allowed"] is True
    counted = {s[0]["result"]: s[1] for s in server.metrics()[0].samples}
    assert (counted["patched"], counted["unchanged"]) == (1, 1)


def test_what_is_no_admission_review_is_a_bad_request_and_other_paths_are_not_found(
    webhook: tuple[WebhookServer, Path],
) -> None:
    server, folder = webhook
    assert post(server, folder, b"{not json")[0] == 400
    assert post(server, folder, b'{"kind": "AdmissionReview"}')[0] == 400
    assert post(server, folder, review({"app": "web"}), path="/mutate-v1-service")[0] == 404


def presented(server: WebhookServer, folder: Path) -> bytes:
    context = ssl.create_default_context(cafile=str(folder / "tls.crt"))
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=30) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        found = tls.getpeercert(binary_form=True)
    assert found is not None
    return found


def test_a_renewed_certificate_is_served_from_the_next_connection(webhook: tuple[WebhookServer, Path]) -> None:
    server, folder = webhook
    first = presented(server, folder)
    renewed = certificate(folder, 2)  # cert-manager writes the Secret's files anew
    assert renewed != first
    assert presented(server, folder) == renewed
    assert post(server, folder, review({"app": "web"}))[0] == 200


def test_a_silent_client_holds_up_no_one(webhook: tuple[WebhookServer, Path]) -> None:
    server, folder = webhook
    with socket.create_connection(("127.0.0.1", server.port), timeout=30):  # connects, never shakes hands
        assert post(server, folder, review({"app": "web"}))[0] == 200
