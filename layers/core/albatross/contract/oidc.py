"""OIDC client credentials: from a Kubernetes Secret to a Secrets Manager copy (ADR 0005).

Shared by both sides, pure. The forwarder copies the client id and secret of each
Secret a managed Ingress (or a Service it forwards to) names in ``auth-idp-oidc``'s
``secretName`` (:func:`albatross.contract.needs.oidc_secrets`) into the Secrets Manager
secret ``albatross/<cluster>/<namespace>/<name>``, and sends a ``Secret`` change whose
object is the Secret's name and resourceVersion plus ``secretsManager: {secretArn, versionId}``
(or ``missingKeys`` when the Secret lacks one of the two). The cloud side reads the
value by ARN and version when it creates or modifies a rule. The data itself never
travels in an event and is never stored in the state table.

The Secret is read as LBC reads it (``buildAuthenticateOIDCAction``): the id from the
key ``clientID``, or, when the Secret has no such key, the legacy ``clientId`` of the
old AWS ALB Ingress Controller; the secret from ``clientSecret``. The id loses its
trailing whitespace (Go's ``unicode.IsSpace``) and the secret its trailing control
characters (``unicode.IsControl``): ``echo value | base64`` leaves a newline that would
otherwise reach the IdP. The copy always holds the two under ``clientID`` and
``clientSecret``.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Mapping
from typing import Any

from albatross.contract import SECRET_KEYS

# Which Secrets an object names is decided with the other needs; re-exported for the
# readers that import it from here.
from albatross.contract.needs import AUTH_IDP_OIDC as AUTH_IDP_OIDC
from albatross.contract.needs import oidc_secrets as oidc_secrets

COPY_PREFIX = "albatross/"
# The keys LBC reads, in its order: a copy's key, then the Secret keys it comes from.
SOURCE_KEYS = {"clientID": ("clientID", "clientId"), "clientSecret": ("clientSecret",)}
# How the copy's values are made from the Secret's; part of the version token, so that a
# copy made another way (before the trimming) is written again, as a new version, rather
# than refused (Secrets Manager refuses a known token with different values).
COPY_FORMAT = "2"

# Go's unicode.IsSpace: the Unicode White_Space characters.
_GO_SPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


def _go_control(c: str) -> bool:
    """Go's unicode.IsControl: C0 and C1 control characters, DEL (U+007F) included."""
    return c < "\x20" or "\x7f" <= c <= "\x9f"


def trimmed(key: str, value: str) -> str:
    """A copy's value as LBC puts it into the rule: ``clientID`` without its trailing
    whitespace, ``clientSecret`` without its trailing control characters (a space
    stays: it may be part of the secret)."""
    end = len(value)
    strip = (lambda c: c in _GO_SPACE) if key == "clientID" else _go_control
    while end and strip(value[end - 1]):
        end -= 1
    return value[:end]


def copy_name(*, cluster: str, key: str) -> str:
    """The Secrets Manager secret holding the copy of Secret ``key`` (``namespace/name``)."""
    return f"{COPY_PREFIX}{cluster}/{key}"


def credentials(secret: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
    """The client id and secret of a Secret as LBC reads them, under ``clientID`` and
    ``clientSecret``, and which of the two it lacks. As LBC, the first key the Secret has
    is the one read (a ``clientID`` wins over a ``clientId``); one whose value is empty
    (once trimmed) or not base64-encoded UTF-8 is lacking: LBC would send the empty or
    garbled value, which AWS or the IdP refuses, so it is reported here instead."""
    data = secret.get("data")
    data = data if isinstance(data, Mapping) else {}
    values: dict[str, str] = {}
    for name in SECRET_KEYS:
        raw = next((data[k] for k in SOURCE_KEYS[name] if k in data), None)
        try:
            value = base64.b64decode(str(raw), validate=True).decode() if raw else ""
        except ValueError:  # not base64 (binascii.Error; non-ASCII text), or not UTF-8
            value = ""
        value = trimmed(name, value)
        if value:
            values[name] = value
    return values, [k for k in SECRET_KEYS if k not in values]


def version_token(secret: Mapping[str, Any], values: Mapping[str, str]) -> str:
    """The ``ClientRequestToken`` (hence VersionId) of a copy: derived from the Secret's
    uid and resourceVersion (and :data:`COPY_FORMAT`), so writing the same Secret version
    again creates no new version (a restarted forwarder), a changed or recreated Secret
    gets a new one, and the token, which travels in events and rule tags, says nothing
    about the values (``values`` only decides that there is something to copy)."""
    meta = secret.get("metadata") or {}
    if not values:
        raise ValueError("nothing to copy")
    text = "\0".join([str(meta.get("uid") or ""), str(meta.get("resourceVersion") or ""), COPY_FORMAT])
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
