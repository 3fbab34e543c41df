"""OIDC client credentials: from a Kubernetes Secret to a Secrets Manager copy (ADR 0005).

Shared by both sides, pure. The forwarder copies ``clientID`` and ``clientSecret`` of
each Secret a managed Ingress (or a Service it forwards to) names in
``auth-idp-oidc``'s ``secretName`` into the Secrets Manager secret
``albatross/<cluster>/<namespace>/<name>``, and sends a ``Secret`` change whose object
is the Secret's name and resourceVersion plus ``secretsManager: {secretArn, versionId}``
(or ``missingKeys`` when the Secret lacks one of the two). The cloud side reads the
value by ARN and version when it creates or modifies a rule. The data itself never
travels in an event and is never stored in the state table.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from collections.abc import Mapping
from typing import Any

from albatross.contract import SECRET_KEYS, annotation_json, mapping

AUTH_IDP_OIDC = "alb.ingress.kubernetes.io/auth-idp-oidc"
COPY_PREFIX = "albatross/"


def oidc_secrets(obj: Mapping[str, Any]) -> set[str]:
    """``namespace/name`` of the Secret an Ingress's or Service's ``auth-idp-oidc``
    annotation names (empty when there is none or it does not parse: the model reports
    that). Never raises, whatever the annotation holds."""
    meta = mapping(obj.get("metadata"))
    data = mapping(annotation_json(mapping(meta.get("annotations")).get(AUTH_IDP_OIDC)))
    name, namespace = data.get("secretName"), meta.get("namespace")
    if isinstance(name, str) and name and isinstance(namespace, str) and namespace:
        return {f"{namespace}/{name}"}
    return set()


def copy_name(*, cluster: str, key: str) -> str:
    """The Secrets Manager secret holding the copy of Secret ``key`` (``namespace/name``)."""
    return f"{COPY_PREFIX}{cluster}/{key}"


def credentials(secret: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
    """The decoded ``clientID`` and ``clientSecret`` of a Secret, and the keys it lacks
    (absent, empty or not base64-encoded UTF-8)."""
    data = secret.get("data") or {}
    values: dict[str, str] = {}
    for name in SECRET_KEYS:
        raw = data.get(name) if isinstance(data, Mapping) else None
        try:
            value = base64.b64decode(str(raw), validate=True).decode() if raw else ""
        except (binascii.Error, UnicodeDecodeError):
            value = ""
        if value:
            values[name] = value
    return values, [k for k in SECRET_KEYS if k not in values]


def version_token(secret: Mapping[str, Any], values: Mapping[str, str]) -> str:
    """The ``ClientRequestToken`` (hence VersionId) of a copy: derived from the Secret's
    uid and resourceVersion, so writing the same Secret version again creates no new
    version (a restarted forwarder), a changed or recreated Secret gets a new one, and
    the token, which travels in events and rule tags, says nothing about the values
    (``values`` only decides that there is something to copy)."""
    meta = secret.get("metadata") or {}
    if not values:
        raise ValueError("nothing to copy")
    text = "\0".join([str(meta.get("uid") or ""), str(meta.get("resourceVersion") or "")])
    return str(uuid.UUID(bytes=hashlib.sha256(text.encode()).digest()[:16]))


def change_object(
    secret: Mapping[str, Any], *, arn: str | None = None, version: str | None = None, missing: list[str] | None = None
) -> dict[str, Any]:
    """The object of a ``Secret`` change: names, resourceVersion and the reference, no data."""
    meta = secret.get("metadata") or {}
    out: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {k: meta[k] for k in ("name", "namespace", "resourceVersion") if k in meta},
    }
    if arn and version:
        out["secretsManager"] = {"secretArn": arn, "versionId": version}
    if missing:
        out["missingKeys"] = list(missing)
    return out


def reference_of(obj: Mapping[str, Any]) -> tuple[str, str] | None:
    """(secretArn, versionId) a stored Secret change names, or None."""
    ref = obj.get("secretsManager")
    if isinstance(ref, Mapping) and ref.get("secretArn") and ref.get("versionId"):
        return str(ref["secretArn"]), str(ref["versionId"])
    return None
