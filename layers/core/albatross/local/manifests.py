"""``albatross local apply -f FILE`` and ``albatross local scale``: change the cluster of
``albatross local up`` through its HTTP API, as ``kubectl`` would.

``apply`` creates each object of a manifest, or merge-patches it when it exists and the
patch changes it (reporting ``created``, ``configured`` or ``unchanged``); kinds are resolved through the
API's discovery documents. ``scale`` sets a Deployment's ``spec.replicas``; the API
double's endpoints stand-in then rewrites its Services' EndpointSlices.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from albatross.local.kube import merge_patch
from albatross.local.up import LocalError


def _call(base: str, method: str, path: str, body: Any = None, patch: bool = False) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    kind = "application/merge-patch+json" if patch else "application/json"
    request = urllib.request.Request(  # noqa: S310  # the API double on 127.0.0.1 (url from up.json)
        base + path, data=data, method=method, headers={"Content-Type": kind, "Accept": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  # as above
            return int(response.status), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        return int(e.code), json.loads(e.read() or b"null")
    except urllib.error.URLError as e:
        raise LocalError(
            f"cannot reach the Kubernetes API at {base} ({e.reason}): is albatross local up running?"
        ) from e


def _resources(base: str) -> dict[tuple[str, str], tuple[str, bool]]:
    """(apiVersion, kind) → (plural, namespaced), from discovery."""
    versions = ["v1"]
    _, groups = _call(base, "GET", "/apis")
    versions += [v["groupVersion"] for g in groups.get("groups", []) for v in g.get("versions", [])]
    out: dict[tuple[str, str], tuple[str, bool]] = {}
    for version in versions:
        _, found = _call(base, "GET", "/api/v1" if version == "v1" else f"/apis/{version}")
        for r in found.get("resources", []):
            if "/" not in r["name"]:
                out[(version, r["kind"])] = (r["name"], bool(r["namespaced"]))
    return out


def _path(api_version: str, plural: str, namespace: str | None, name: str | None = None) -> str:
    path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    if namespace:
        path += f"/namespaces/{namespace}"
    path += f"/{plural}"
    return f"{path}/{name}" if name else path


def documents(files: Iterable[Path]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for file in files:
        try:
            found = list(yaml.safe_load_all(file.read_text()))
        except (OSError, yaml.YAMLError) as e:
            raise LocalError(f"cannot read {file}: {e}") from e
        out += [d for d in found if isinstance(d, dict)]
    return out


def apply(base: str, objects: Sequence[Mapping[str, Any]], *, out: Callable[[str], None] | None = None) -> list[str]:
    """Create or update each object; one ``kind/name verb`` line per object, also given
    to ``out`` as soon as that object is done (progress, as kubectl prints it)."""
    kinds = _resources(base)
    lines = _Lines(out)
    for obj in objects:
        api_version, kind, meta = str(obj.get("apiVersion")), str(obj.get("kind")), obj.get("metadata") or {}
        if (api_version, kind) not in kinds:
            raise LocalError(f"the local Kubernetes API has no {kind} in {api_version}; it serves {_served(kinds)}")
        plural, namespaced = kinds[(api_version, kind)]
        namespace = str(meta.get("namespace") or "default") if namespaced else None
        name = str(meta.get("name", ""))
        group = api_version.rpartition("/")[0]
        label = f"{kind.lower()}.{group}/{name}" if group else f"{kind.lower()}/{name}"  # as kubectl prints it
        code, found = _call(base, "POST", _path(api_version, plural, namespace), dict(obj))
        if code == 201:
            lines.append(f"{label} created")
            continue
        if code != 409:
            raise LocalError(f"{label}: {found.get('message', code) if isinstance(found, dict) else code}")
        _, before = _call(base, "GET", _path(api_version, plural, namespace, name))
        if merge_patch(before, obj) == before:
            lines.append(f"{label} unchanged")
            continue
        code, after = _call(base, "PATCH", _path(api_version, plural, namespace, name), dict(obj), patch=True)
        if code != 200:
            raise LocalError(f"{label}: {after.get('message', code) if isinstance(after, dict) else code}")
        lines.append(f"{label} configured")
    return list(lines)


class _Lines(list[str]):
    """The lines so far, each also shown at once when there is somewhere to show it."""

    def __init__(self, out: Callable[[str], None] | None) -> None:
        super().__init__()
        self._out = out

    def append(self, line: str) -> None:
        super().append(line)
        if self._out is not None:
            self._out(line)


def _served(kinds: Mapping[tuple[str, str], Any]) -> str:
    return ", ".join(sorted({k for _, k in kinds}))


def scale(base: str, deployment: str, replicas: int) -> str:
    """``NAMESPACE/NAME`` (or ``NAME`` in ``default``) to ``replicas``."""
    if replicas < 0:
        raise LocalError("replicas must be 0 or more")
    namespace, _, name = deployment.rpartition("/")
    namespace = namespace or "default"
    body = {"spec": {"replicas": replicas}}
    code, found = _call(base, "PATCH", _path("apps/v1", "deployments", namespace, name), body, patch=True)
    if code == 404:
        raise LocalError(f"no Deployment {namespace}/{name}: list them with kubectl get deployments -A")
    if code != 200:
        raise LocalError(
            f"scaling {namespace}/{name}: {found.get('message', code) if isinstance(found, dict) else code}"
        )
    return f"deployment.apps/{name} scaled to {replicas}"
