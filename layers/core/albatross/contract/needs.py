"""Which objects an Ingress needs: the Services it may send traffic to, and the Secrets
its OIDC authentication names. Pure, standard library only.

One source of truth for both sides. The forwarder sends only the Services (and their
EndpointSlices) that managed Ingresses need, and copies only the Secrets they name
(ADR 0005); the model (:mod:`albatross.model.rules`) loads the Services it forwards to
from what was sent. Both read the ``actions.*`` and ``auth-idp-oidc`` annotations with
:func:`albatross.contract.reading.field`, as LBC's decoder does (keys in any case), so
the model never forwards to a Service the forwarder did not send: that rule would
answer 503. What is needed is over-read rather than under-read: every ``actions.*``
annotation counts, used by a path or not, and a field given twice (in two spellings)
counts with each value. A superset is harmless, it is only what is sent.

Nothing here raises, whatever an object or annotation holds: a field of an unexpected
shape names nothing, and the model reports it on the Ingress.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from albatross.contract.reading import annotation_json, fields, listed, mapping

ACTIONS_PREFIX = "alb.ingress.kubernetes.io/actions."
AUTH_IDP_OIDC = "alb.ingress.kubernetes.io/auth-idp-oidc"
# A Secret's name: a DNS subdomain (RFC 1123), as the API server requires. Any other
# secretName names no Secret that can exist, so the forwarder does not ask for it (the
# model reports the Secret as not found).
_SECRET_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_MAX_NAME = 253


def _strings(values: Iterable[Any]) -> set[str]:
    return {v for v in values if isinstance(v, str) and v}


def action_services(action: Any) -> set[str]:
    """Names of the Services an ``actions.<name>`` annotation's JSON forwards to: the
    ``serviceName`` of each of ``forwardConfig.targetGroups``, its keys in any case."""
    return _strings(
        name
        for config in fields(action, "forwardConfig")
        for targets in fields(config, "targetGroups")
        for target in listed(targets)
        for name in fields(target, "serviceName")
    )


def _backend_service(backend: Any) -> set[str]:
    return _strings([mapping(mapping(backend).get("service")).get("name")])


def services_of(obj: Mapping[str, Any]) -> set[str]:
    """``namespace/name`` of every Service an Ingress may send traffic to: path and
    default backends, and the forward targets of its ``actions.<name>`` annotations."""
    meta = mapping(obj.get("metadata"))
    namespace = meta.get("namespace")
    if not isinstance(namespace, str) or not namespace:
        return set()
    spec = mapping(obj.get("spec"))
    names = _backend_service(spec.get("defaultBackend"))
    for rule in listed(spec.get("rules")):
        for path in listed(mapping(mapping(rule).get("http")).get("paths")):
            names |= _backend_service(mapping(path).get("backend"))
    for key, value in mapping(meta.get("annotations")).items():
        if isinstance(key, str) and key.startswith(ACTIONS_PREFIX):
            names |= action_services(annotation_json(value))
    return {f"{namespace}/{n}" for n in names}


def secret_names(idp: Any) -> set[str]:
    """Names of the Secrets an ``auth-idp-oidc`` annotation's JSON names in
    ``secretName`` (its key in any case): valid Secret names only."""
    return {
        n for n in _strings(fields(idp, "secretName")) if len(n) <= _MAX_NAME and _SECRET_NAME.fullmatch(n) is not None
    }


def oidc_secrets(obj: Mapping[str, Any]) -> set[str]:
    """``namespace/name`` of the Secret an Ingress's or Service's ``auth-idp-oidc``
    annotation names (empty when there is none or it does not parse)."""
    meta = mapping(obj.get("metadata"))
    namespace = meta.get("namespace")
    if not isinstance(namespace, str) or not namespace:
        return set()
    idp = annotation_json(mapping(meta.get("annotations")).get(AUTH_IDP_OIDC))
    return {f"{namespace}/{n}" for n in secret_names(idp)}
