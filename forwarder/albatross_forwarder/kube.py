"""The forwarder's Kubernetes API calls: a few REST paths sent through the official
client's transport (``kubernetes.client.rest``), none of its generated API classes
(ADR 0007).

In client 37 each generated API class is a module of pydantic-validated methods loaded
on first use (``CoreV1Api`` alone is about 20 MiB resident) while the forwarder needs
lists and watches, a patch, a status patch, Events and a Lease, all plain JSON. The
answers are parsed here, never turned into models. Wire behaviour: JSON bodies;
``application/json-patch+json`` for a list of operations (the finalizer patches, guarded
by ``test``), ``application/merge-patch+json`` for an object (status, an Event's count, the
readiness gates ConfigMap), ``application/strategic-merge-patch+json`` for a pod's
status (its ``conditions`` merge by ``type``: a merge patch would replace the list);
an answer outside 2xx raises the client's ``ApiException`` (``status``, ``reason``,
``body``), as the generated methods do. Transport settings (CA, client certificates,
proxy, urllib3 retries) are the client's, from its ``Configuration``.

:func:`configuration`: in a pod, the service account's token (re-read every minute:
bound tokens rotate) and CA with ``KUBERNETES_SERVICE_HOST``/``_PORT``, through the
client's in-cluster loader; elsewhere the client's kubeconfig loader, imported only then.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from kubernetes.client.configuration import Configuration
from kubernetes.client.exceptions import ApiException
from kubernetes.client.rest import RESTClientObject
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.incluster_config import InClusterConfigLoader
from urllib3 import BaseHTTPResponse

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
USER_AGENT = "albatross-forwarder"
Timeout = float | tuple[float, float]


@dataclass(frozen=True)
class Resource:
    group: str  # "" for the core group
    version: str
    plural: str

    def path(self, namespace: str | None = None, name: str | None = None, sub: str | None = None) -> str:
        parts = ["/api", self.version] if not self.group else ["/apis", self.group, self.version]
        if namespace is not None:
            parts += ["namespaces", quote(namespace, safe="")]
        parts.append(self.plural)
        if name is not None:
            parts.append(quote(name, safe=""))
        if sub is not None:
            parts.append(sub)
        return "/".join(parts)


INGRESSES = Resource("networking.k8s.io", "v1", "ingresses")
INGRESS_CLASSES = Resource("networking.k8s.io", "v1", "ingressclasses")
INGRESS_CLASS_PARAMS = Resource("elbv2.k8s.aws", "v1beta1", "ingressclassparams")
TARGET_GROUP_BINDINGS = Resource("elbv2.k8s.aws", "v1beta1", "targetgroupbindings")
SERVICES = Resource("", "v1", "services")
ENDPOINT_SLICES = Resource("discovery.k8s.io", "v1", "endpointslices")
NAMESPACES = Resource("", "v1", "namespaces")
NODES = Resource("", "v1", "nodes")
SECRETS = Resource("", "v1", "secrets")
EVENTS = Resource("", "v1", "events")
LEASES = Resource("coordination.k8s.io", "v1", "leases")
# pod readiness gates (ADR 0014): gated pods, their status, the gates ConfigMap
PODS = Resource("", "v1", "pods")
CONFIGMAPS = Resource("", "v1", "configmaps")


def configuration() -> Configuration:
    """The service account's, in a pod; else the current kubeconfig context."""
    config = Configuration()
    try:
        InClusterConfigLoader(  # type: ignore[no-untyped-call]  # untyped in the client
            token_filename=str(SERVICE_ACCOUNT / "token"), cert_filename=str(SERVICE_ACCOUNT / "ca.crt")
        ).load_and_set(config)
    except ConfigException:
        # local use only: this loader imports yaml, oauthlib and most of the client
        from kubernetes.config.kube_config import load_kube_config

        load_kube_config(  # type: ignore[no-untyped-call]  # untyped in the client
            config_file=os.environ.get("KUBECONFIG"), client_configuration=config
        )
    return config


class Kube:
    """The API server at ``configuration.host``; safe to share between threads (urllib3
    keeps a pool of connections)."""

    def __init__(self, configuration: Configuration) -> None:
        self.configuration = configuration
        self._rest = RESTClientObject(configuration)

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str | int] | None = None,
        body: Any = None,
        timeout: Timeout = (5, 30),
        patch_type: str | None = None,
    ) -> BaseHTTPResponse:
        """The response, body unread, when the answer is 2xx; else ``ApiException``.
        ``patch_type``: a PATCH's content type (by default a JSON patch for a list, a
        merge patch for an object)."""
        url = self.configuration.host + path + (f"?{urlencode(query)}" if query else "")
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if body is not None:
            patch_type = patch_type or (JSON_PATCH if isinstance(body, list) else MERGE_PATCH)
            headers["Content-Type"] = patch_type if method == "PATCH" else "application/json"
        # the bearer token (the configuration's refresh hook re-reads it when due); client
        # certificates, where used instead, are the connection pool's
        bearer = self.configuration.auth_settings().get("BearerToken")
        if bearer and bearer["value"]:
            headers[bearer["key"]] = bearer["value"]
        answer = self._rest.request(  # type: ignore[no-untyped-call]  # untyped in the client
            method, url, headers=headers, body=body, _request_timeout=timeout
        )
        resp: BaseHTTPResponse = answer.response
        if not 200 <= resp.status <= 299:
            text = resp.data.decode("utf-8", errors="replace")
            resp.release_conn()
            raise ApiException(http_resp=resp, body=text)
        return resp

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """A request whose answer is one JSON object."""
        resp = self.request(method, path, **kwargs)
        try:
            answer: dict[str, Any] = json.loads(resp.data)
        finally:
            resp.release_conn()
        return answer

    # --- the calls, by verb -------------------------------------------------------------

    def get(self, resource: Resource, namespace: str | None, name: str, **kwargs: Any) -> dict[str, Any]:
        return self.call("GET", resource.path(namespace, name), **kwargs)

    def create(
        self, resource: Resource, namespace: str | None, body: Mapping[str, Any], **kwargs: Any
    ) -> dict[str, Any]:
        return self.call("POST", resource.path(namespace), body=dict(body), **kwargs)

    def replace(
        self, resource: Resource, namespace: str | None, name: str, body: Mapping[str, Any], **kwargs: Any
    ) -> dict[str, Any]:
        """PUT: 409 when ``body``'s resourceVersion is not the stored one."""
        return self.call("PUT", resource.path(namespace, name), body=dict(body), **kwargs)

    def patch(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        patch: list[dict[str, Any]] | Mapping[str, Any],
        *,
        status: bool = False,
        strategic: bool = False,
    ) -> dict[str, Any]:
        """A JSON patch (a list of operations) or a merge patch (an object; ``strategic``:
        a strategic merge patch); ``status``: through the status subresource."""
        body = patch if isinstance(patch, list) else dict(patch)
        path = resource.path(namespace, name, "status" if status else None)
        return self.call("PATCH", path, body=body, patch_type=STRATEGIC_MERGE_PATCH if strategic else None)

    def collection(self, resource: Resource, *, field_selector: str = "", namespace: str | None = None) -> Collection:
        """``namespace``: that namespace's only (a Role grants no more); else every one."""
        return Collection(self, resource, field_selector, namespace)


@dataclass(frozen=True)
class Collection:
    """One kind in every namespace (or in ``namespace``), as a watcher lists and watches it."""

    kube: Kube
    resource: Resource
    field_selector: str = ""
    namespace: str | None = None

    def _query(self, **query: str | int) -> dict[str, str | int]:
        return {**query, "fieldSelector": self.field_selector} if self.field_selector else query

    def list(self, *, limit: int, cont: str | None = None) -> dict[str, Any]:
        """One page: ``items``, and ``metadata`` with the list's resourceVersion and the
        ``continue`` token of the next page, if any. Only the parsed page is kept."""
        query = self._query(limit=limit, **({"continue": cont} if cont else {}))
        return self.kube.call("GET", self.resource.path(self.namespace), query=query, timeout=(5, 120))

    def watch(self, *, rv: str, timeout: int) -> Stream:
        """Events after ``rv``, with bookmarks, until the server ends the watch after
        ``timeout`` seconds (or the client gives up waiting 30 s later)."""
        query = self._query(watch="true", resourceVersion=rv, allowWatchBookmarks="true", timeoutSeconds=timeout)
        path = self.resource.path(self.namespace)
        return Stream(self.kube.request("GET", path, query=query, timeout=(5, timeout + 30)))


class Stream:
    """An open watch: its events as they arrive; :meth:`close` ends it from any thread."""

    def __init__(self, resp: BaseHTTPResponse) -> None:
        self._resp = resp

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Each line is one event; a chunk may carry several lines, or part of one."""
        buffer = bytearray()
        try:
            for chunk in self._resp.stream(amt=None, decode_content=False):
                buffer += chunk
                start = 0
                while (end := buffer.find(b"\n", start)) >= 0:
                    if end > start:
                        yield json.loads(buffer[start:end])
                    start = end + 1
                del buffer[:start]
        finally:
            self._resp.release_conn()

    def close(self) -> None:
        """End the watch now (another thread's iteration stops with an error or at once)."""
        with contextlib.suppress(Exception):  # best effort: the connection may be gone already
            self._resp.shutdown()

    def release(self) -> None:
        self._resp.release_conn()
