"""OIDC client credentials in the desired stack (ADR 0005). Pure.

The builder writes a rule's ``ClientId``/``ClientSecret`` as ``{"$secret": "ns/name",
"key": "clientID"|"clientSecret"}``. Before planning, :func:`resolve_secrets` adds the
ARN and version of the forwarder's Secrets Manager copy from the stored ``Secret``
snapshot, and tags the rule with that version: the plan compares the version (AWS
never shows a rule's client secret), and the applier reads the values by ARN and
version right before CreateRule/ModifyRule. The values are never part of the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from albatross.contract.oidc import reference_of
from albatross.k8s.errors import ObjectError
from albatross.model.names import TAG_OIDC_CREDENTIALS_VERSION
from albatross.model.stack import LISTENER_RULE, Resource, Stack

REFERENCE = "$secret"  # how the model names a Secret key (never its value)
# How a lacking key is named to the user: the id may also come from LBC's legacy key.
_KEY_NAMES = {"clientID": "clientID (or legacy clientId)"}


class SecretError(ObjectError):
    """A Secret that OIDC authentication names is missing or unusable."""


def _configs(props: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [
        a["AuthenticateOidcConfig"]
        for a in props.get("Actions") or ()
        if isinstance(a, Mapping) and isinstance(a.get("AuthenticateOidcConfig"), Mapping)
    ]


def _refs(props: Mapping[str, Any]) -> set[str]:
    return {str(v[REFERENCE]) for c in _configs(props) for v in c.values() if isinstance(v, Mapping) and REFERENCE in v}


def secret_keys(stack: Stack | None) -> set[str]:
    """``namespace/name`` of every Secret the stack's rules take credentials from."""
    if stack is None:
        return set()
    return set().union(*(_refs(r.properties) for r in stack.of_type(LISTENER_RULE).values()))


def _reference(key: str, secrets: Mapping[str, Mapping[str, Any]]) -> tuple[str, str]:
    obj = secrets.get(key)
    if obj is None:
        raise SecretError(f"OIDC client Secret {key} not found (auth-idp-oidc secretName)")
    missing = obj.get("missingKeys")
    if missing:
        keys = " and no ".join(_KEY_NAMES.get(str(k), str(k)) for k in missing)
        raise SecretError(f"OIDC client Secret {key} has no {keys} key (an empty value counts as none)")
    found = reference_of(obj)
    if found is None:
        raise SecretError(f"OIDC client Secret {key} has no Secrets Manager copy yet")
    return found


def _resolved(value: Any, secrets: Mapping[str, Mapping[str, Any]]) -> Any:
    if isinstance(value, Mapping) and REFERENCE in value:
        arn, version = _reference(str(value[REFERENCE]), secrets)
        return {**value, "secretArn": arn, "versionId": version}
    if isinstance(value, Mapping):
        return {k: _resolved(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolved(v, secrets) for v in value]
    return value


def resolve_secrets(stack: Stack | None, secrets: Mapping[str, Mapping[str, Any]]) -> Stack | None:
    """The stack with each ``$secret`` reference completed from the stored Secret
    changes (``namespace/name`` → object), and each such rule tagged with the copy's
    version; SecretError names a Secret that is missing or unusable."""
    if stack is None:
        return None
    out: dict[str, Resource] = {}
    for rid, res in stack.resources.items():
        refs = _refs(res.properties) if res.type == LISTENER_RULE else set()
        if not refs:
            out[rid] = res
            continue
        versions = sorted({_reference(key, secrets)[1] for key in refs})
        tags = [t for t in res.properties.get("Tags") or () if t.get("Key") != TAG_OIDC_CREDENTIALS_VERSION]
        tags.append({"Key": TAG_OIDC_CREDENTIALS_VERSION, "Value": ",".join(versions)})
        props = {**_resolved(res.properties, secrets), "Tags": sorted(tags, key=lambda t: str(t["Key"]))}
        out[rid] = Resource(type=res.type, properties=props, binding=res.binding)
    return Stack(stack_id=stack.stack_id, resources=out)
