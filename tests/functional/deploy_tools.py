"""What ``albatross install`` and ``uninstall`` talk to besides AWS's moto, for tests.

* **Stand-in tools** (``sam``, ``kubectl``, ``docker``, ``aws``, ``gh``, ``helm``):
  executables put first on PATH that record their argv and working directory (one JSON
  line per run) and answer what the deploy tests need as the real tool would;
  tests/functional/standin.py says what each does (``sam deploy`` keeps a stack in the
  local cloud's CloudFormation, ``kubectl apply -k`` renders with the real kustomize,
  ``kubectl config`` is the real one, reading the test's kubeconfig). They are external
  tools, not our code: what is tested is what Albatross asks of them.
* **An EKS double**: moto 5.2 serves no Pod Identity associations (and keeps no VPC id or
  endpoint in DescribeCluster), so DescribeCluster and the four Pod Identity association
  calls are answered in memory at the botocore boundary (``before-call`` on the shared
  clients), with the response shapes and errors of the EKS API reference, after botocore
  has validated the request against the real service model. :func:`kubeconfig` writes
  the kubeconfig whose context names that endpoint, as ``aws eks update-kubeconfig`` does.
* **A rollout**: with the whole local system, each ``kubectl apply -k`` the stand-in
  records restarts the local forwarder, as a Deployment rollout would, and the stand-in's
  ``kubectl rollout status`` waits for that restart.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders

from albatross.aws import clients
from albatross.local.system import LocalSystem

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"

_STANDIN = """#!{python}
# A stand-in {tool} for tests: tests/functional/standin.py says what it does.
import sys

sys.path.insert(0, {root!r})
from tests.functional.standin import main

sys.exit(main({tool!r}, sys.argv[1:]))
"""


@dataclass
class Tools:
    """The stand-ins' folder (first on PATH) and what they recorded."""

    bin: Path
    log: Path

    @property
    def rolled(self) -> Path:
        """Where a :class:`Rollout` counts its rollouts (``kubectl rollout status`` waits on it)."""
        return self.bin / "rolled"

    def env(self, path: str) -> dict[str, str]:
        real = shutil.which("kubectl")
        assert real is not None, "kubectl (it carries kustomize) must be on PATH for these tests"
        return {
            "PATH": f"{self.bin}:{path}",
            "STANDIN_LOG": str(self.log),
            "REAL_KUBECTL": real,
            "STANDIN_ROLLED": str(self.rolled),
        }

    def runs(self, tool: str | None = None) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        found = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [r for r in found if tool is None or r["tool"] == tool]


def standins(folder: Path, tools: tuple[str, ...] = ("sam", "kubectl")) -> Tools:
    folder.mkdir(parents=True, exist_ok=True)
    for tool in tools:
        path = folder / tool
        path.write_text(_STANDIN.format(python=sys.executable, tool=tool, root=str(ROOT)))
        path.chmod(0o755)
    return Tools(bin=folder, log=folder / "runs.jsonl")


def endpoint_of(cluster: str) -> str:
    """The API server endpoint the EKS double gives a cluster, in EKS's form."""
    return f"https://{hashlib.sha256(cluster.encode()).hexdigest()[:32].upper()}.gr7.us-east-1.eks.amazonaws.com"


def kubeconfig(path: Path, servers: dict[str, str], *, current: str) -> Path:
    """A kubeconfig with one context (and cluster) per name → server, as ``aws eks
    update-kubeconfig`` writes them; kubectl only reads it (nothing is contacted)."""
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": n, "cluster": {"server": s}} for n, s in servers.items()],
                "users": [{"name": "user", "user": {}}],
                "contexts": [{"name": n, "context": {"cluster": n, "user": "user"}} for n in servers],
                "current-context": current,
            }
        )
    )
    return path


def checkout(folder: Path) -> Path:
    """What install reads of the repository, and what ``make package`` leaves in it: the
    template (standing for the built one too), samconfig.toml and the forwarder's base."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("template.yaml", "samconfig.toml"):
        shutil.copy(ROOT / name, folder / name)
    shutil.copytree(ROOT / "forwarder" / "deploy", folder / "forwarder" / "deploy")
    (folder / ".aws-sam" / "build").mkdir(parents=True)
    shutil.copy(ROOT / "template.yaml", folder / ".aws-sam" / "build" / "template.yaml")
    return folder


@dataclass
class Association:
    cluster: str
    namespace: str
    service_account: str
    role: str
    id: str = field(default_factory=lambda: f"a-{uuid.uuid4().hex[:17]}")

    def summary(self) -> dict[str, Any]:
        return {
            "clusterName": self.cluster,
            "namespace": self.namespace,
            "serviceAccount": self.service_account,
            "associationArn": f"arn:aws:eks:us-east-1:{ACCOUNT}:podidentityassociation/{self.cluster}/{self.id}",
            "associationId": self.id,
        }

    def full(self) -> dict[str, Any]:
        return {**self.summary(), "roleArn": self.role}


class EksDouble:
    """DescribeCluster and Pod Identity associations, in memory."""

    def __init__(self) -> None:
        self.clusters: dict[str, str] = {}  # name → VPC id
        self.endpoints: dict[str, str] = {}  # name → API server endpoint (default: endpoint_of(name))
        self.associations: dict[str, Association] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def answer(self, operation: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.calls.append((operation, dict(params)))
            return self._answer(operation, params)

    def _answer(self, operation: str, p: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if operation == "DescribeCluster":
            if p["name"] not in self.clusters:
                return _error(404, "ResourceNotFoundException", f"No cluster found for name: {p['name']}.")
            name = p["name"]
            described = {
                "name": name,
                "status": "ACTIVE",
                "endpoint": self.endpoints.get(name, endpoint_of(name)),
                "resourcesVpcConfig": {"vpcId": self.clusters[name]},
            }
            return 200, {"cluster": described}
        cluster = p["clusterName"]
        if cluster not in self.clusters:
            return _error(404, "ResourceNotFoundException", f"No cluster found for name: {cluster}.")
        if operation == "ListPodIdentityAssociations":
            found = [
                a.summary()
                for a in self.associations.values()
                if a.cluster == cluster
                and p.get("namespace") in (None, a.namespace)
                and p.get("serviceAccount") in (None, a.service_account)
            ]
            return 200, {"associations": found}
        if operation == "CreatePodIdentityAssociation":
            if any(
                (a.cluster, a.namespace, a.service_account) == (cluster, p["namespace"], p["serviceAccount"])
                for a in self.associations.values()
            ):
                return _error(409, "ResourceInUseException", "Association already exists")
            made = Association(cluster, p["namespace"], p["serviceAccount"], p["roleArn"])
            self.associations[made.id] = made
            return 200, {"association": made.full()}
        if operation in ("DescribePodIdentityAssociation", "DeletePodIdentityAssociation"):
            found_one = self.associations.get(p["associationId"])
            if found_one is None or found_one.cluster != cluster:
                return _error(404, "ResourceNotFoundException", f"Association {p['associationId']} not found")
            if operation == "DeletePodIdentityAssociation":
                del self.associations[found_one.id]
            return 200, {"association": found_one.full()}
        raise AssertionError(f"the EKS double does not answer {operation}")


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"Error": {"Code": code, "Message": message}}


_ID = "albatross-test-eks"


@contextmanager
def eks_double() -> Iterator[EksDouble]:
    double = EksDouble()

    def remember(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[_ID] = dict(params)

    def hook(model: Any, context: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        if model.service_model.endpoint_prefix != "eks":
            return None
        status, parsed = double.answer(model.name, context.get(_ID) or {})
        response = AWSResponse("http://127.0.0.1/", status, HTTPHeaders(), None)
        return response, {**parsed, "ResponseMetadata": {"HTTPStatusCode": status}}

    clients.add_hook("before-parameter-build.eks.*", remember, unique_id=f"{_ID}-params")
    clients.add_hook("before-call.eks.*", hook, unique_id=_ID)
    try:
        yield double
    finally:
        clients.remove_hook(_ID)
        clients.remove_hook(f"{_ID}-params")


class Rollout:
    """Each ``kubectl apply -k`` the stand-in records starts a new forwarder, as a
    Deployment rollout would (its leader lists everything and sends a Resync)."""

    def __init__(self, system: LocalSystem, tools: Tools) -> None:
        self.system, self.tools = system, tools
        self.done = threading.Event()
        self.restarts = 0
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        seen = 0
        while not self.done.wait(0.1):
            applied = [r for r in self.tools.runs("kubectl") if r["argv"][-3:-1] == ["apply", "-k"]]
            if len(applied) > seen:
                seen = len(applied)
                self.system.restart_forwarder()
                self.restarts += 1
                self.tools.rolled.write_text(str(self.restarts))

    def __enter__(self) -> Rollout:
        self.tools.rolled.write_text("0")
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.done.set()
        self.thread.join(timeout=30)
