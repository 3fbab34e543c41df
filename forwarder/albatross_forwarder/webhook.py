"""The pod readiness gates' admission webhook (docs/adr/0014-pod-readiness-gates.md):
``POST /mutate-v1-pod`` over HTTPS, answered by :func:`albatross_forwarder.readiness.admit`
from the gates the ConfigMap holds (:class:`GateTable`).

Both replicas serve it, leader or not: an answer reads the table and writes nothing. The
serving certificate and key are files (a Secret cert-manager fills, mounted). They are
loaded again when either file's content changes, checked at each new connection, so a
renewal needs no restart. TLS is the standard library's ``ssl``, the server ``http.server``'s: no new
dependency in the image. The TLS handshake runs in the connection's own thread, so a
slow client cannot hold up the others.

An answer that cannot be made (a body that is not an AdmissionReview: 400; anything
else: 500) is left to the webhook's ``failurePolicy``: with ``Ignore`` the pod is made
without gates. Each request is counted by result
(``albatross_forwarder_webhook_requests_total{result}``: ``patched``, ``unchanged``,
``bad-request``, ``failed``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from albatross_forwarder.health import Metric
from albatross_forwarder.readiness import Gated, admit, stored

log = logging.getLogger("albatross.forwarder.webhook")

PATH = "/mutate-v1-pod"
PORT = 9443  # LBC's webhook port
# The API server sends at most its request size limit (3 MiB) in an AdmissionReview's object
MAX_BODY = 3 * 1024 * 1024 + 64 * 1024
HANDSHAKE_SECONDS = 10.0  # the API server's default webhook timeout
RESULTS = ("patched", "unchanged", "bad-request", "failed")


class GateTable:
    """The gates to inject, by namespace, as the gates ConfigMap last said (empty until it
    is read: pods get no gate, the state before the feature)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._namespaces: Mapping[str, Gated] = {}

    def update(self, configmap: Mapping[str, Any]) -> None:
        found = stored(configmap)
        with self._lock:
            self._namespaces = found

    def __call__(self, namespace: str) -> Gated:
        with self._lock:
            return self._namespaces.get(namespace, {})


class Certificate:
    """The serving certificate, loaded again when its files change."""

    def __init__(self, cert_file: str, key_file: str) -> None:
        self.cert_file, self.key_file = cert_file, key_file
        self._lock = threading.Lock()
        self._stamp = b""
        self._context: ssl.SSLContext | None = None

    def _files(self) -> bytes:
        # the contents, not the times: a few KB a connection, and no renewal is missed on a
        # file system whose times are coarse
        digest = hashlib.sha256()
        for name in (self.cert_file, self.key_file):
            with open(name, "rb") as f:
                digest.update(f.read())
        return digest.digest()

    def context(self) -> ssl.SSLContext:
        with self._lock:
            stamp = self._files()
            if self._context is None or stamp != self._stamp:
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.minimum_version = ssl.TLSVersion.TLSv1_2
                context.load_cert_chain(self.cert_file, self.key_file)
                if self._context is not None:
                    log.info("webhook certificate loaded again (%s)", self.cert_file)
                self._context, self._stamp = context, stamp
            return self._context


class _Handler(BaseHTTPRequestHandler):
    server: WebhookServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  # the base class's parameter name
        log.debug("%s " + format, self.address_string(), *args)

    def do_POST(self) -> None:
        if self.path.split("?", 1)[0] != PATH:
            self._send(404, {"message": "not found"})
            return
        try:
            length = int(self.headers.get("Content-Length", "0"))
            if not 0 < length <= MAX_BODY:
                raise ValueError(f"body of {length} bytes")
            review = json.loads(self.rfile.read(length))
            if not isinstance(review, dict) or not isinstance(review.get("request"), dict):
                raise ValueError("not an AdmissionReview")
        except ValueError as e:
            self.server.count("bad-request")
            self._send(400, {"message": f"bad request: {str(e)[:200]}"})
            return
        try:
            answer = admit(review, self.server.gated)
        except Exception:  # the failurePolicy decides; the server stays up
            log.exception("webhook answer failed")
            self.server.count("failed")
            self._send(500, {"message": "internal error"})
            return
        self.server.count("patched" if "patch" in answer["response"] else "unchanged")
        self._send(200, answer)

    def _send(self, code: int, body: Mapping[str, Any]) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class WebhookServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, *, host: str, port: int, certificate: Certificate, gated: GateTable) -> None:
        self.certificate, self.gated = certificate, gated
        self.requests: Counter[str] = Counter(dict.fromkeys(RESULTS, 0))
        self._lock = threading.Lock()
        certificate.context()  # a missing or bad certificate fails here, at start
        super().__init__((host, port), _Handler)
        self.thread = threading.Thread(target=self.serve_forever, name="forwarder-webhook", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def count(self, result: str) -> None:
        with self._lock:
            self.requests[result] += 1

    def metrics(self) -> list[Metric]:
        with self._lock:
            samples = [({"result": r}, float(n)) for r, n in sorted(self.requests.items())]
        doc = "Admission requests the readiness gates webhook answered, by result"
        return [Metric("albatross_forwarder_webhook_requests_total", "counter", doc, samples)]

    def get_request(self) -> tuple[socket.socket, Any]:
        raw, address = self.socket.accept()
        raw.settimeout(HANDSHAKE_SECONDS)
        wrapped = self.certificate.context().wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
        return wrapped, address

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            request.do_handshake()  # in this connection's thread
        except (OSError, ssl.SSLError) as e:
            log.debug("webhook TLS handshake with %s failed: %s", client_address, e)
            return
        super().finish_request(request, client_address)

    def start(self) -> None:
        self.thread.start()
        log.info("readiness gates webhook on %s:%d", self.server_address[0], self.port)

    def stop(self) -> None:
        if self.thread.is_alive():
            self.shutdown()
        self.server_close()
