"""The forwarder's footprint and speed with 10,000 watched objects (``--objects``).

    python -m bench.forwarder                  # prints the table, sets the "forwarder" entry of bench/results.json
    python -m bench.forwarder --objects 100000 # issue 16's size: the "forwarder-100000" entry

``make bench`` runs it at 10,000 (through :mod:`bench.run`), ``make bench-scale`` at 100,000.

The forwarder runs as its own process, as in a cluster, against the Kubernetes API double
and a moto server on 127.0.0.1 (the bus, the write-back queue and the claim-check bucket
only: no template, no functions). The double holds the watched objects (``populate``,
``Mix``): per 10,000, 2,000 Ingresses of our class, 500 of another controller's, 3,500
Services (2,000 behind our Ingresses), one EndpointSlice per Service, 480 Nodes and 20
Namespaces; 100,000 is ten times each. Our Ingresses carry their finalizer already, as
after a restart.

Measured, in this order:

* ``initial_sync``: from the process start until the first ``Resync`` reached moto (it
  goes out after every watcher listed, behind everything they sent); events and events
  per second from the first entry to the Resync; then, once nothing has been sent for
  ``QUIET_S``, RSS, peak RSS (``VmHWM``) and CPU seconds (user + system) of the process
  from ``/proc/<pid>``;
* ``latency_s``: one object changed at a time, from just before the change is made in
  the double until moto's PutEvents has taken the entry that carries that
  resourceVersion (a wrapper around moto's ``put_events``, in this process, so both
  instants come from one monotonic clock). Ingress changes are sent at once;
  EndpointSlice changes wait out the forwarder's per-Service debounce by design;
* ``burst``: churn, one change per five watched objects (2,000 at 10,000) made back to
  back (half Ingresses, half EndpointSlices), until the last reached moto; RSS after,
  peak RSS during the burst (``VmHWM`` reset first) and the CPU seconds it cost.

The process starts like the image's in a pod: the Deployment's literal environment
(``forwarder/deploy/deployment.yaml``, e.g. ``MALLOC_ARENA_MAX``); the API server's
address in ``KUBERNETES_SERVICE_HOST``/``_PORT`` and a service account folder (token,
CA) in place of the pod's, so the in-cluster configuration is what runs, over TLS (the
double serves a certificate that CA signed); and without ``kubernetes_validate``, a
dev-only package the kubernetes client imports when present. moto is plain HTTP: in AWS
the two botocore clients' TLS contexts add about 2 MiB. ``harness_cpu_s`` is this
process's CPU (the double and moto), to show when they, not the forwarder, set the
pace.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import ipaddress
import json
import logging
import math
import os
import platform
import resource
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import boto3
import kubernetes
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from moto.events.models import EventsBackend
from moto.server import ThreadedMotoServer

from albatross.contract import finalizer_for
from albatross.local.cloud import FAKE_CREDENTIALS
from albatross.local.kube import KINDS, Cluster, KubeDouble, kube_double
from bench import results

ROOT = Path(__file__).resolve().parent.parent
CLUSTER = "bench"
BUS = "albatross-bench"
# the peak RSS wanted: 64 MiB at 10,000 watched objects (issue 5), 128 MiB at 100,000 (issue 16)
TARGET_RSS_MIB = {10_000: 64, 100_000: 128}
QUIET_S = 2.0
BURST_SHARE = 0.2  # changes in the burst per watched object, e.g. 2,000 at 10,000
OBJECTS = 10_000  # `make bench`'s size; `make bench-scale` runs SCALE_OBJECTS
SCALE_OBJECTS = 100_000
KIND_ORDER = ("Namespace", "Node", "Service", "EndpointSlice", "Ingress")
KIND = {k.kind: k for k in KINDS}
MERGE = "application/merge-patch+json"


# --- what reached moto -------------------------------------------------------------


@dataclass(frozen=True)
class Arrival:
    at: float
    kind: str
    key: str
    rv: str


class Capture:
    """Every entry moto's PutEvents accepted, with the instant it did."""

    def __init__(self) -> None:
        self.arrivals: list[Arrival] = []
        self.resyncs: list[Arrival] = []
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        original = EventsBackend.put_events

        def put_events(backend: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
            results: list[dict[str, Any]] = original(backend, events)
            now = time.monotonic()
            with self._cond:
                for event, result in zip(events, results, strict=False):
                    if "EventId" in result:
                        detail = json.loads(event["Detail"])
                        key, rv = str(detail.get("key")), str(detail.get("resourceVersion"))
                        self.arrivals.append(Arrival(now, event["DetailType"], key, rv))
                        if event["DetailType"] == "Resync":
                            self.resyncs.append(self.arrivals[-1])
                self._cond.notify_all()
            return results

        with mock.patch.object(EventsBackend, "put_events", put_events):
            yield

    def count(self) -> int:
        with self._cond:
            return len(self.arrivals)

    def wait(
        self, what: str, check: Callable[[list[Arrival]], Any], timeout: float, proc: subprocess.Popen[bytes]
    ) -> Any:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not (found := check(self.arrivals)):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
                if proc.poll() is not None:
                    raise RuntimeError(f"the forwarder exited ({proc.returncode}) before {what}")
                self._cond.wait(min(left, 0.5))
            return found

    def wait_quiet(self, quiet: float, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._cond:
                last = self.arrivals[-1].at if self.arrivals else 0.0
            if time.monotonic() - last >= quiet:
                return
            time.sleep(0.1)
        raise TimeoutError("the forwarder kept sending")


# --- the process ---------------------------------------------------------------------


def proc_stats(pid: int) -> dict[str, float]:
    """RSS and peak RSS (MiB) and CPU seconds (user + system) of a process."""
    status = Path(f"/proc/{pid}/status").read_text()
    kib = {line.split(":")[0]: int(line.split()[1]) for line in status.splitlines() if line.startswith("Vm")}
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return {
        "rss_mib": round(kib["VmRSS"] / 1024, 1),
        "peak_rss_mib": round(kib["VmHWM"] / 1024, 1),
        "cpu_s": round((int(fields[11]) + int(fields[12])) / ticks, 2),  # utime, stime
    }


def reset_peak(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0); False where not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def deployment_env() -> dict[str, str]:
    """The literal environment the Deployment gives the container."""
    deployment = yaml.safe_load((ROOT / "forwarder" / "deploy" / "deployment.yaml").read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: str(e["value"]) for e in container.get("env", []) if "value" in e}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_account(folder: Path) -> tuple[Path, ssl.SSLContext]:
    """What a pod is given to reach the API server: a service account folder (token,
    namespace, the cluster CA) and, for the double, a server certificate for 127.0.0.1
    signed by that CA. Returns the folder and the double's TLS context."""
    now = datetime.datetime.now(datetime.UTC)
    valid = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1))
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench-ca")])

    def certificate(
        subject: str, key: ec.EllipticCurvePrivateKey, *, ca: bool, signer: ec.EllipticCurvePrivateKey
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(valid[0])
            .not_valid_after(valid[1])
        )
        if ca:
            builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        else:
            san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
            builder = builder.add_extension(san, critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_cert = certificate("bench-ca", ca_key, ca=True, signer=ca_key)
    server = certificate("127.0.0.1", server_key, ca=False, signer=ca_key)
    account = folder / "serviceaccount"
    account.mkdir()
    (account / "ca.crt").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (account / "token").write_text("bench-token")  # the double does not check it
    (account / "namespace").write_text("default")
    (folder / "server.pem").write_bytes(
        server.public_bytes(serialization.Encoding.PEM)
        + server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "server.pem")
    return account, context


# Runs the forwarder's entry point as the image does, where kubernetes_validate is absent,
# with the service account folder of ``service_account`` in place of the pod's.
_LAUNCH = (
    "import pathlib, runpy, sys; sys.modules['kubernetes_validate'] = None; "
    "import albatross_forwarder.kube as kube; kube.SERVICE_ACCOUNT = pathlib.Path(sys.argv.pop(1)); "
    "runpy.run_module('albatross_forwarder', run_name='__main__')"
)


def start_forwarder(
    *, kube: KubeDouble, account: Path, endpoint: str, folder: Path, queue_url: str
) -> subprocess.Popen[bytes]:
    """The forwarder configured as in a pod: the API server's address in
    ``KUBERNETES_SERVICE_HOST``/``_PORT``, over TLS, with the service account's token."""
    url = urlsplit(kube.url)
    env = {
        "PATH": os.environ.get("PATH", ""),
        **FAKE_CREDENTIALS,
        **deployment_env(),
        "AWS_ENDPOINT_URL": endpoint,
        "KUBERNETES_SERVICE_HOST": str(url.hostname),
        "KUBERNETES_SERVICE_PORT": str(url.port),
        "CLUSTER_NAME": CLUSTER,
        "EVENT_BUS_NAME": BUS,
        "WRITEBACK_QUEUE_URL": queue_url,
        "PAYLOAD_BUCKET": "albatross-bench-payloads",
        "INGRESS_CLASS": "alb",
        "LOG_LEVEL": "INFO",
        "HEALTH_PORT": str(free_port()),
        "LEASE_NAME": "albatross-forwarder",
        # The double serves a 100,000-object list slowly (each page rescans its store under
        # one lock): with the default 15 s a Lease call can time out behind the pages, the
        # term ends and the lists start over. One replica here: nothing to fail over to.
        "LEASE_DURATION_SECONDS": "120",
        "LEASE_NAMESPACE": "default",
        "POD_NAME": "forwarder-0",
        "POD_NAMESPACE": "default",
        "RESYNC_SECONDS": "3600",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    with (folder / "forwarder.log").open("wb") as log:  # the child keeps its own descriptor
        return subprocess.Popen(  # noqa: S603  # this interpreter, our own module, fixed arguments
            [sys.executable, "-c", _LAUNCH, str(account)], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=folder
        )


# --- the cluster -----------------------------------------------------------------------


@dataclass(frozen=True)
class Mix:
    """How many of each kind: per 10,000 watched objects, 2,000 Ingresses of our class,
    500 of another controller's, 3,500 Services (2,000 behind our Ingresses), one
    EndpointSlice per Service, 480 Nodes and 20 Namespaces, scaled to the total."""

    namespaces: int
    ours: int
    theirs: int
    services: int
    nodes: int

    @classmethod
    def of(cls, objects: int) -> Mix:
        if objects <= 0 or objects % 500:
            raise ValueError(f"watched objects come in steps of 500 (the mix's smallest whole unit), not {objects}")
        k = objects // 500
        return cls(namespaces=k, ours=100 * k, theirs=25 * k, services=175 * k, nodes=24 * k)

    @property
    def total(self) -> int:
        return self.namespaces + self.ours + self.theirs + 2 * self.services + self.nodes

    def ns(self, i: int) -> str:
        return f"team-{i % self.namespaces:02}"


def _node(k: int) -> str:
    return f"ip-10-1-{k // 250}-{k % 250}.ec2.internal"


def _slice_name(service: str) -> str:
    return f"{service}-{hashlib.sha256(service.encode()).hexdigest()[:5]}"


def ingress(i: int, *, ours: bool, mix: Mix) -> dict[str, Any]:
    """Ours (i < mix.ours) front svc-i; another controller's front the Services ours do not."""
    j = i if ours else mix.ours + i % (mix.services - mix.ours)
    service = f"svc-{j:04}"
    a = "alb.ingress.kubernetes.io/"
    annotations = {
        f"{a}scheme": "internet-facing",
        f"{a}target-type": "ip",
        f"{a}healthcheck-path": "/healthz",
        f"{a}listen-ports": '[{"HTTP": 80}, {"HTTPS": 443}]',
        f"{a}certificate-arn": f"arn:aws:acm:us-east-1:123456789012:certificate/{i:08}-0000-4000-8000-000000000000",
    }
    if i % 10 == 0:
        annotations[f"{a}group.name"] = f"shop-{i % 50}"
    host = f"app-{i:04}.{mix.ns(j)}.example.com"

    def path(p: str, port: int) -> dict[str, Any]:
        return {"path": p, "pathType": "Prefix", "backend": {"service": {"name": service, "port": {"number": port}}}}

    obj: dict[str, Any] = {
        "metadata": {
            "name": f"app-{i:04}" if ours else f"other-{i:04}",
            "namespace": mix.ns(j),
            "labels": {"app.kubernetes.io/name": f"app-{i:04}", "team": mix.ns(j)},
            "annotations": annotations,
        },
        "spec": {
            "ingressClassName": "alb" if ours else "nginx",
            "tls": [{"hosts": [host]}],
            "rules": [{"host": host, "http": {"paths": [path("/", 80), path("/api", 8080)]}}],
        },
    }
    if ours:
        obj["metadata"]["finalizers"] = [finalizer_for(obj)]
    return obj


def service(i: int, mix: Mix) -> dict[str, Any]:
    name = f"svc-{i:04}"
    return {
        "metadata": {"name": name, "namespace": mix.ns(i), "labels": {"app": name}},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": f"172.20.{i // 250}.{i % 250 + 1}",
            "selector": {"app": name},
            "ports": [
                {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
                {"name": "api", "port": 8080, "targetPort": 8080, "protocol": "TCP"},
            ],
        },
    }


def endpoint_slice(i: int, mix: Mix) -> dict[str, Any]:
    name = f"svc-{i:04}"
    return {
        "metadata": {
            "name": _slice_name(name),
            "namespace": mix.ns(i),
            "labels": {
                "kubernetes.io/service-name": name,
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
            },
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}, {"name": "api", "port": 8080, "protocol": "TCP"}],
        "endpoints": [
            {
                "addresses": [f"10.{2 + i // 16_384}.{(i // 64) % 256}.{(i % 64) * 4 + r}"],
                "conditions": {"ready": True, "serving": True, "terminating": False},
                "nodeName": _node((i + r) % mix.nodes),
                "zone": f"us-east-1{'abc'[(i + r) % 3]}",
                "targetRef": {"kind": "Pod", "namespace": mix.ns(i), "name": f"{name}-{r}"},
            }
            for r in range(3)
        ],
    }


def node(k: int) -> dict[str, Any]:
    zone = f"us-east-1{'abc'[k % 3]}"
    now = "2026-01-01T00:00:00Z"
    return {
        "metadata": {
            "name": _node(k),
            "labels": {
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/os": "linux",
                "kubernetes.io/hostname": _node(k),
                "node.kubernetes.io/instance-type": "m6i.large",
                "topology.kubernetes.io/region": "us-east-1",
                "topology.kubernetes.io/zone": zone,
                "eks.amazonaws.com/nodegroup": f"ng-{k % 4}",
                "eks.amazonaws.com/capacityType": "ON_DEMAND",
            },
        },
        "spec": {"providerID": f"aws:///{zone}/i-{k:017x}"},
        "status": {
            "capacity": {"cpu": "2", "memory": "7936Mi", "pods": "29", "ephemeral-storage": "83873772Ki"},
            "allocatable": {"cpu": "1930m", "memory": "7075Mi", "pods": "29", "ephemeral-storage": "76224326324"},
            "conditions": [
                {"type": t, "status": "True" if t == "Ready" else "False", "lastHeartbeatTime": now, "reason": t}
                for t in ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready")
            ],
            "addresses": [
                {"type": "InternalIP", "address": f"10.1.{k // 250}.{k % 250}"},
                {"type": "Hostname", "address": _node(k)},
                {"type": "InternalDNS", "address": _node(k)},
            ],
            "nodeInfo": {"kubeletVersion": "v1.31.4-eks", "containerRuntimeVersion": "containerd://1.7.25"},
            "images": [
                {"names": [f"registry.example.com/team/image-{j}@sha256:{j:064x}"], "sizeBytes": 10_000_000 + j}
                for j in range(25)
            ],
        },
    }


def populate(cluster: Cluster, mix: Mix) -> dict[str, int]:
    """Load the watched objects straight into the double (not over HTTP)."""
    # Services here have no Deployments behind them and get the EndpointSlices made
    # below; the double's endpoints stand-in, which re-reads every Service after each
    # Service change, is switched off.
    cluster.sync_endpoints = lambda: None  # type: ignore[method-assign]  # see above
    counts: dict[str, int] = {}

    def add(kind: str, namespace: str, body: dict[str, Any]) -> None:
        cluster.create(KIND[kind], namespace, body)
        counts[kind] = counts.get(kind, 0) + 1

    cluster.create(
        KIND["IngressClass"], "", {"metadata": {"name": "alb"}, "spec": {"controller": "ingress.k8s.aws/alb"}}
    )
    for n in range(mix.namespaces):
        add("Namespace", "", {"metadata": {"name": mix.ns(n), "labels": {"team": mix.ns(n)}}})
    for k in range(mix.nodes):
        add("Node", "", node(k))
    for i in range(mix.services):
        add("Service", mix.ns(i), service(i, mix))
        add("EndpointSlice", mix.ns(i), endpoint_slice(i, mix))
    for i in range(mix.ours):
        add("Ingress", mix.ns(i), ingress(i, ours=True, mix=mix))
    for i in range(mix.theirs):
        add("Ingress", mix.ns(mix.ours + i % (mix.services - mix.ours)), ingress(i, ours=False, mix=mix))
    return {k: counts[k] for k in KIND_ORDER}


# --- the measurements ---------------------------------------------------------------


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def change(cluster: Cluster, kind: str, i: int, n: int, mix: Mix) -> tuple[str, str]:
    """Change one of our Ingresses (a label to ``n``) or one referenced EndpointSlice
    (flip a pod's readiness); return the key and the new resourceVersion."""
    namespace = mix.ns(i)
    if kind == "Ingress":
        name, patch = f"app-{i:04}", {"metadata": {"labels": {"bench-rev": str(n)}}}
    else:
        name = _slice_name(f"svc-{i:04}")
        endpoints = cluster.get(KIND[kind], namespace, name)["endpoints"]
        endpoints[0]["conditions"]["ready"] = not endpoints[0]["conditions"]["ready"]
        patch = {"endpoints": endpoints}
    obj = cluster.patch(KIND[kind], namespace, name, MERGE, patch, status=False)
    return f"{namespace}/{name}", str(obj["metadata"]["resourceVersion"])


def arrived(kind: str, key: str, rv: str) -> Callable[[list[Arrival]], Arrival | None]:
    def check(arrivals: list[Arrival]) -> Arrival | None:
        return next((a for a in reversed(arrivals) if a.kind == kind and a.key == key and a.rv == rv), None)

    return check


def latencies(
    cluster: Cluster,
    capture: Capture,
    proc: subprocess.Popen[bytes],
    *,
    kind: str,
    samples: int,
    start: int,
    mix: Mix,
    patience: float,
) -> dict[str, float]:
    """``patience``: how long one change may take (a change made while its kind is being
    listed again waits for that list: minutes at 100,000 objects on the double)."""
    found = []
    for n in range(samples):
        i = (start + n * 37) % mix.ours
        time.sleep(0.05)
        t0 = time.monotonic()
        key, rv = change(cluster, kind, i, start + n, mix)
        found.append(capture.wait(f"{kind} {key}@{rv}", arrived(kind, key, rv), patience, proc).at - t0)
    return {
        "median": round(statistics.median(found), 3),
        "p99": round(percentile(found, 0.99), 3),
        "max": round(max(found), 3),
        "samples": len(found),
    }


def harness_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(samples: int, folder: Path, mix: Mix) -> dict[str, Any]:
    capture = Capture()
    # the double serves lists and watches at a few thousand objects a second: give the
    # waits room in proportion (300 s at 10,000 objects was ten times what it took)
    patience = 300 * max(1.0, mix.total / 10_000)
    burst_size = round(mix.total * BURST_SHARE)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # moto keeps its state per process: start from none (``make bench`` ran the local
    # system's scenarios in this process before)
    reset = urllib.request.Request(f"{endpoint}/moto-api/reset", data=b"{}", method="POST")  # noqa: S310  # local
    with urllib.request.urlopen(reset, timeout=10):  # noqa: S310  # moto on 127.0.0.1
        pass
    with contextlib.ExitStack() as stack:
        stack.callback(server.stop)
        stack.enter_context(capture.installed())
        session = boto3.Session(
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=FAKE_CREDENTIALS["AWS_REGION"],
        )
        session.client("events", endpoint_url=endpoint).create_event_bus(Name=BUS)
        queue_url = session.client("sqs", endpoint_url=endpoint).create_queue(QueueName="writeback")["QueueUrl"]
        session.client("s3", endpoint_url=endpoint).create_bucket(Bucket="albatross-bench-payloads")
        account, tls = service_account(folder)
        kube = stack.enter_context(kube_double(tls))
        t_pop = time.monotonic()
        counts = populate(kube.cluster, mix)
        populated_s = time.monotonic() - t_pop

        cpu0 = harness_cpu()
        t0 = time.monotonic()
        proc = start_forwarder(kube=kube, account=account, endpoint=endpoint, folder=folder, queue_url=queue_url)
        stack.callback(_stop, proc)
        resync = capture.wait("the first Resync", lambda _: capture.resyncs[:1], patience, proc)[0]
        capture.wait_quiet(QUIET_S)
        sent = [a for a in capture.arrivals if a.at <= resync.at]
        sync_stats = proc_stats(proc.pid)
        initial = {
            "events": len(sent),
            "seconds": round(resync.at - t0, 2),
            "events_per_s": round(len(sent) / max(resync.at - sent[0].at, 1e-6)),
            **sync_stats,
            "harness_cpu_s": round(harness_cpu() - cpu0, 2),
        }

        latency = {
            "Ingress": latencies(
                kube.cluster, capture, proc, kind="Ingress", samples=samples, start=1, mix=mix, patience=patience
            ),
            "EndpointSlice": latencies(
                kube.cluster,
                capture,
                proc,
                kind="EndpointSlice",
                samples=max(10, samples // 3),
                start=1,
                mix=mix,
                patience=patience,
            ),
        }
        capture.wait_quiet(QUIET_S)

        before, cpu0 = proc_stats(proc.pid), harness_cpu()
        peak_reset = reset_peak(proc.pid)
        first, wanted = capture.count(), set()
        t0 = time.monotonic()
        for n in range(burst_size):
            kind = "Ingress" if n % 2 == 0 else "EndpointSlice"
            wanted.add((kind, *change(kube.cluster, kind, (n * 7) % mix.ours, 1_000_000 + n, mix)))
        seen_upto = [first]

        def burst_arrived(arrivals: list[Arrival]) -> bool:
            # only the entries since the last look: a burst is tens of thousands
            for a in arrivals[seen_upto[0] :]:
                wanted.discard((a.kind, a.key, a.rv))
            seen_upto[0] = len(arrivals)
            return not wanted

        capture.wait("the burst", burst_arrived, timeout=patience, proc=proc)
        capture.wait_quiet(QUIET_S)
        after = proc_stats(proc.pid)
        done = max(a.at for a in capture.arrivals[first:])
        burst = {
            "changes": burst_size,
            "events": capture.count() - first,
            "seconds": round(done - t0, 2),
            "events_per_s": round((capture.count() - first) / (done - t0)),
            "rss_mib": after["rss_mib"],
            "peak_rss_mib": after["peak_rss_mib"] if peak_reset else None,
            "cpu_s": round(after["cpu_s"] - before["cpu_s"], 2),
            "harness_cpu_s": round(harness_cpu() - cpu0, 2),
        }
    return {
        "watched_objects": sum(counts.values()),
        "objects": counts,
        "populate_double_s": round(populated_s, 1),
        "initial_sync": initial,
        "latency_s": latency,
        "burst": burst,
        # VmHWM before the reset covers the start, the sync and the single changes
        "peak_rss_mib": max(before["peak_rss_mib"], after["peak_rss_mib"]),
        "target_rss_mib": TARGET_RSS_MIB.get(sum(counts.values())),
        "forwarder_log_warnings": sum(
            " WARNING " in line or " ERROR " in line for line in (folder / "forwarder.log").read_text().splitlines()
        ),
        "python": platform.python_version(),
        "kubernetes_client": kubernetes.__version__,
    }


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --- report ------------------------------------------------------------------------


def report(r: dict[str, Any]) -> None:
    sync, burst = r["initial_sync"], r["burst"]
    mix = ", ".join(f"{v} {k}" for k, v in r["objects"].items())
    print(f"forwarder, {r['watched_objects']:,} watched objects ({mix})")
    print("| phase | events | s | events/s | RSS MiB | peak RSS MiB | CPU s | harness CPU s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, p in (("initial sync", sync), (f"burst of {burst['changes']} changes", burst)):
        print(
            f"| {name} | {p['events']} | {p['seconds']} | {p['events_per_s']} | {p['rss_mib']} | "
            f"{p['peak_rss_mib']} | {p['cpu_s']} | {p['harness_cpu_s']} |"
        )
    for kind, lat in r["latency_s"].items():
        print(f"change → PutEvents, {kind}, {lat['samples']} samples: median {lat['median']} s, p99 {lat['p99']} s")
    print(f"warnings and errors in the forwarder's log: {r['forwarder_log_warnings']}")
    if r["target_rss_mib"] is not None:
        met = r["peak_rss_mib"] <= r["target_rss_mib"]
        print(
            f"peak RSS {r['peak_rss_mib']} MiB, at most {r['target_rss_mib']} MiB wanted: "
            + ("met" if met else "not met")
        )


def entry(objects: int) -> str:
    """The bench/results.json entry of a run at ``objects``: ``forwarder`` at the default
    size, ``forwarder-<objects>`` at any other, so that the two targets keep their own."""
    return "forwarder" if objects == OBJECTS else f"forwarder-{objects}"


def record(figures: dict[str, Any]) -> None:
    """Set the entry of the run's size in bench/results.json, keeping every other entry."""
    results.set_entry(entry(int(figures["watched_objects"])), figures)


def run(samples: int = 60, objects: int = OBJECTS) -> dict[str, Any]:
    """Measure in a scratch folder; on failure, the end of the forwarder's log goes to
    stderr before the error."""
    with tempfile.TemporaryDirectory(prefix="albatross-bench-forwarder-") as folder:
        try:
            return measure(samples, Path(folder), Mix.of(objects))
        except Exception:
            log = Path(folder) / "forwarder.log"
            if log.exists():
                sys.stderr.write(log.read_text()[-4000:])
            raise


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.forwarder", description=__doc__)
    p.add_argument("--samples", type=int, default=60, help="single Ingress changes timed (EndpointSlice: a third)")
    p.add_argument("--objects", type=int, default=OBJECTS, help="watched objects, in steps of 500 (the same mix)")
    p.add_argument("--no-record", action="store_true", help="print only; leave bench/results.json alone")
    args = p.parse_args(argv)
    figures = run(args.samples, args.objects)
    report(figures)
    if not args.no_record:
        record(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
