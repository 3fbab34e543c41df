"""``/healthz``, ``/readyz`` and Prometheus ``/metrics`` on a small HTTP server in a thread.

The server knows nothing of the forwarder: it calls the checks and the metrics source it
is given. ``render`` writes the Prometheus text exposition format (version 0.0.4) by
hand, so the forwarder needs no metrics library.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

log = logging.getLogger("albatross.forwarder.health")

Check = Callable[[], tuple[bool, str]]


@dataclass(frozen=True)
class Metric:
    name: str
    kind: Literal["counter", "gauge"]
    doc: str
    samples: Sequence[tuple[Mapping[str, str], float]] = field(default_factory=list)

    @classmethod
    def one(cls, name: str, kind: Literal["counter", "gauge"], doc: str, value: float) -> Metric:
        return cls(name, kind, doc, [({}, value)])


def _escape(value: str, *, quote: bool = True) -> str:
    value = value.replace("\\", "\\\\").replace("\n", "\\n")
    return value.replace('"', '\\"') if quote else value


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(int(value)) if float(value).is_integer() else repr(float(value))


def render(metrics: Sequence[Metric]) -> str:
    lines: list[str] = []
    for m in metrics:
        lines.append(f"# HELP {m.name} {_escape(m.doc, quote=False)}")
        lines.append(f"# TYPE {m.name} {m.kind}")
        for labels, value in m.samples:
            text = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
            lines.append(f"{m.name}{{{text}}} {_number(value)}" if text else f"{m.name} {_number(value)}")
    return "\n".join(lines) + "\n"


class _Handler(BaseHTTPRequestHandler):
    server: HealthServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  # the base class's name
        return  # probes every few seconds would drown the log

    def do_GET(self) -> None:  # http.server's naming
        path = self.path.split("?", 1)[0]
        try:
            if path == "/metrics":
                self._send(200, render(self.server.metrics()), "text/plain; version=0.0.4; charset=utf-8")
            elif path in ("/healthz", "/readyz"):
                ok, text = (self.server.healthz if path == "/healthz" else self.server.readyz)()
                self._send(200 if ok else 503, text + "\n", "text/plain; charset=utf-8")
            else:
                self._send(404, "not found\n", "text/plain; charset=utf-8")
        except Exception as e:  # a failing check is an unhealthy answer, not a dead server
            log.exception("%s failed", path)
            self._send(500, f"{type(e).__name__}: {e}\n", "text/plain; charset=utf-8")

    def _send(self, code: int, text: str, content_type: str) -> None:
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class HealthServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, *, host: str, port: int, healthz: Check, readyz: Check, metrics: Callable[[], Sequence[Metric]]
    ) -> None:
        super().__init__((host, port), _Handler)
        self.healthz, self.readyz, self.metrics = healthz, readyz, metrics
        self.thread = threading.Thread(target=self.serve_forever, name="forwarder-health", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> None:
        self.thread.start()
        log.info("health and metrics on %s:%d", self.server_address[0], self.port)

    def stop(self) -> None:
        if self.thread.is_alive():
            self.shutdown()
        self.server_close()
