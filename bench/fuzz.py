"""Fuzzing what users write: Ingresses, their Services, IngressClass and
IngressClassParams, with hostile annotation values and spec shapes, through everything
that reads them before AWS is asked anything: the Kubernetes views, the contract's
helpers (what the forwarder and ingest read), ingest's parsing of a change, and the model
builder by way of ``albatross plan --offline``.

    python -m bench.fuzz [--manifests 10000] [--seed 14] [--no-sweep]

runs :func:`sweep` (every annotation with every hostile value, about 3,000 manifests),
then ``--manifests`` random ones, and prints how many manifests ran, the errors by the
annotation (or field) they name, the errors that name nothing they should, and the
crashes, which must be 0 (exit 1 otherwise). ``tests/unit/test_fuzz.py`` runs the same
generator and checks in ``make test``: the sweep, and a few hundred random manifests
under hypothesis.

What counts as a failure (:class:`Findings`):

* a crash: an exception other than the documented one escaping a view (ObjectError), a
  contract helper (ContractError where it is documented, else none), ingest's parse or
  ``plan_offline``; or an ``unexpected ...`` reason, the builder's last line of defence
  having caught a defect;
* an unattributed error: in a manifest where exactly one annotation of one Ingress is
  hostile, an error that names neither that annotation nor something a value is checked
  against (subnets, certificates, other members: :data:`CROSS_CHECKS`).

The generator draws through a :class:`Chooser`, so hypothesis can drive (and shrink) it
in the test and a seeded ``random.Random`` can drive it fast here.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import re
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from albatross import contract
from albatross.cli.plan import plan_offline
from albatross.contract import oidc
from albatross.k8s import ingress as ingress_view
from albatross.k8s.errors import ObjectError
from albatross.k8s.ingress_class import class_params_of, parse_ingress_class
from albatross.k8s.node import parse_node
from albatross.k8s.params import parse_params
from albatross.k8s.service import parse_endpoint_slice, parse_service
from albatross.model.config import ControllerConfig
from albatross.model.discovery import Discovery

T = TypeVar("T")

A = "alb.ingress.kubernetes.io/"
NS = "shop"
CONFIG = ControllerConfig(cluster="fuzz", vpc_id="vpc-0fuzz")
DISCOVERY = Discovery(
    subnets=tuple(
        {
            "SubnetId": f"subnet-{role[0]}{zone}",
            "AvailabilityZone": f"us-east-1{zone}",
            "Tags": [{"Key": f"kubernetes.io/role/{role}", "Value": "1"}, {"Key": "Name", "Value": f"{role}-{zone}"}],
        }
        for role in ("elb", "internal-elb")
        for zone in "ab"
    ),
    certificates=(
        {"CertificateArn": "arn:aws:acm:us-east-1:111122223333:certificate/shop", "DomainName": "*.shop.io"},
    ),
    security_groups=({"GroupId": "sg-0edge", "Tags": [{"Key": "Name", "Value": "edge"}]},),
    backend_security_group_id="sg-0backend",
    web_acls=({"Name": "shop-acl", "ARN": "arn:aws:wafv2:us-east-1:111122223333:regional/webacl/shop-acl/1"},),
)


class Chooser(Protocol):
    """Where the generator's choices come from."""

    def pick(self, options: Sequence[T]) -> T: ...

    def number(self, low: int, high: int) -> int: ...


class RandomChooser:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def pick(self, options: Sequence[T]) -> T:
        return options[self.rng.randrange(len(options))]

    def number(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)


def chance(c: Chooser, percent: int) -> bool:
    return c.number(0, 99) < percent


# --- values -----------------------------------------------------------------------------

DEEP = "[" * 3000 + "]" * 3000
HOSTILE_TEXT = (
    "",
    " ",
    "²",
    "١٢",  # Arabic-Indic digits: int() reads them, Go's strconv does not
    "1_000",
    "+5",
    "-1",
    "0",
    "65536",
    "99999999999999999999999",
    "NaN",
    "Infinity",
    "1e999",
    "true",
    "null",
    "[]",
    "{}",
    DEEP,
    '{"a":' * 60 + "1" + "}" * 60,
    "\x00",
    "x" * 5000,
    ",",
    "=",
    "a=b,c",
    "k=,=v",
    "10.0.0.0/33",
    "::/0",
    "0.0.0.0/0",
    "80",
    "443",
    "http",
    "internet-facing",
    "ip",
    "HTTPS",
    "GRPC",
    "traffic-port",
    '"quoted"',
    "😀",
    "[" + "9" * 5000 + "]",
)
FIELD_NAMES = (
    "type",
    "Type",
    "forwardConfig",
    "targetGroups",
    "serviceName",
    "servicePort",
    "weight",
    "targetGroupARN",
    "targetGroupStickinessConfig",
    "enabled",
    "durationSeconds",
    "redirectConfig",
    "fixedResponseConfig",
    "statusCode",
    "port",
    "field",
    "values",
    "value",
    "key",
    "httpHeaderName",
    "mode",
    "trustStore",
    "rewrites",
    "regex",
    "name",
    "number",
    "service",
    "resource",
    "path",
    "pathType",
    "host",
    "http",
    "paths",
    "backend",
)


def hostile_json(c: Chooser, depth: int = 0) -> Any:
    """A JSON value of a type a field does not expect, or of a value nothing expects."""
    kind = c.number(0, 12 if depth < 3 else 9)
    if kind == 0:
        return None
    if kind == 1:
        return c.pick((True, False))
    if kind == 2:
        return c.pick((0, -1, 1, 80, 443, 999, 1000, 65536, 604801, 2**63, 10**30))
    if kind == 3:
        return c.pick((1.5, 80.0, -0.0, 1e300))
    if kind in (4, 5, 6):
        return c.pick(HOSTILE_TEXT)  # as a JSON string: "²" where a number or a name is expected, ...
    if kind == 7:
        return []
    if kind == 8:
        return {}
    if kind == 9:
        nested: Any = c.pick((1, "x", None))
        for _ in range(c.number(30, 40)):
            nested = [nested]
        return nested
    if kind == 10:
        return [hostile_json(c, depth + 1) for _ in range(c.number(1, 3))]
    return {c.pick(FIELD_NAMES): hostile_json(c, depth + 1) for _ in range(c.number(1, 3))}


def mutate(c: Chooser, value: Any) -> Any:
    """``value`` with one node replaced by a hostile one, deleted, or its key's case
    changed (LBC's decoder matches keys without regard to case)."""
    value = copy.deepcopy(value)
    if not isinstance(value, (dict, list)) or not value or chance(c, 15):
        return hostile_json(c)
    parent: Any = value
    while True:
        keys: list[Any] = sorted(parent) if isinstance(parent, dict) else list(range(len(parent)))
        key = c.pick(keys)
        child = parent[key]
        if isinstance(child, (dict, list)) and child and chance(c, 60):
            parent = child
            continue
        action = c.number(0, 9)
        if action == 0 and isinstance(parent, dict):
            del parent[key]
        elif action == 1 and isinstance(parent, dict) and isinstance(key, str):
            parent[key.upper()] = parent.pop(key)
        else:
            parent[key] = hostile_json(c)
        return value


ARN = "arn:aws:elasticloadbalancing:us-east-1:111122223333:targetgroup/legacy/0abc"
JSON_TEMPLATES: dict[str, tuple[Any, ...]] = {
    "actions.": (
        {
            "type": "forward",
            "forwardConfig": {
                "targetGroups": [
                    {"serviceName": "web", "servicePort": "80", "weight": 80},
                    {"serviceName": "api", "servicePort": "http", "weight": 20},
                ],
                "targetGroupStickinessConfig": {"enabled": True, "durationSeconds": 300},
            },
        },
        {"type": "forward", "targetGroupARN": ARN},
        {"type": "redirect", "redirectConfig": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}},
        {"type": "fixed-response", "fixedResponseConfig": {"contentType": "text/plain", "statusCode": "503"}},
    ),
    "conditions.": (
        [
            {"field": "host-header", "hostHeaderConfig": {"values": ["a.shop.io"]}},
            {"field": "http-header", "httpHeaderConfig": {"httpHeaderName": "X-Beta", "values": ["on"]}},
            {"field": "query-string", "queryStringConfig": {"values": [{"key": "v", "value": "2"}]}},
            {"field": "source-ip", "sourceIpConfig": {"values": ["10.0.0.0/8"]}},
        ],
    ),
    "transforms.": (
        [{"type": "url-rewrite", "urlRewriteConfig": {"rewrites": [{"regex": "^/api/(.+)$", "replace": "/$1"}]}}],
    ),
    "listen-ports": ([{"HTTP": 80}, {"HTTPS": 443}], [{"HTTP": 8080}]),
    "mutual-authentication": (
        [{"port": 443, "mode": "verify", "trustStore": "arn:aws:ts"}],
        [{"port": 443, "mode": "off"}],
    ),
    "auth-idp-oidc": (
        {
            "issuer": "https://idp",
            "authorizationEndpoint": "https://idp/auth",
            "tokenEndpoint": "https://idp/token",
            "userInfoEndpoint": "https://idp/user",
            "secretName": "oidc",
        },
    ),
    "auth-idp-cognito": ({"userPoolARN": "arn:aws:cognito", "userPoolClientID": "c", "userPoolDomain": "d"},),
    "jwt-validation": (
        {
            "jwksEndpoint": "https://idp/jwks",
            "issuer": "https://idp",
            "additionalClaims": [{"name": "scope", "format": "space-separated-values", "values": ["read"]}],
        },
    ),
}
PLAIN_VALUES: dict[str, tuple[str, ...]] = {
    "scheme": ("internet-facing", "internal"),
    "ip-address-type": ("ipv4", "dualstack"),
    "target-type": ("ip", "instance"),
    "backend-protocol": ("HTTP", "HTTPS"),
    "backend-protocol-version": ("HTTP1", "HTTP2", "GRPC"),
    "healthcheck-protocol": ("HTTP", "HTTPS"),
    "healthcheck-port": ("traffic-port", "8080", "http"),
    "healthcheck-path": ("/healthz",),
    "healthcheck-interval-seconds": ("10",),
    "healthcheck-timeout-seconds": ("5",),
    "healthy-threshold-count": ("3",),
    "unhealthy-threshold-count": ("3",),
    "success-codes": ("200-299",),
    "group.order": ("10", "-5"),
    "group.name": ("shop", "other"),
    "load-balancer-name": ("shop-lb",),
    "subnets": ("elb-a,elb-b", "subnet-ea,subnet-eb"),
    "security-groups": ("edge", "sg-0edge"),
    "security-group-prefix-lists": ("pl-1",),
    "manage-backend-security-group-rules": ("true",),
    "inbound-cidrs": ("10.0.0.0/8",),
    "certificate-arn": ("arn:aws:acm:us-east-1:111122223333:certificate/shop",),
    "ssl-policy": ("ELBSecurityPolicy-TLS13-1-2-2021-06",),
    "ssl-redirect": ("443",),
    "tags": ("team=web,env=prod",),
    "load-balancer-attributes": ("idle_timeout.timeout_seconds=60",),
    "target-group-attributes": ("deregistration_delay.timeout_seconds=30",),
    "target-node-labels": ("pool=web",),
    "wafv2-acl-arn": ("arn:aws:wafv2:acl",),
    "wafv2-acl-name": ("shop-acl",),
    "waf-acl-id": ("waf-1",),
    "shield-advanced-protection": ("true",),
    "customer-owned-ipv4-pool": ("ipv4pool-coip-1",),
    "ipam-ipv4-pool-id": ("ipam-pool-1",),
    "minimum-load-balancer-capacity": ("CapacityUnits=100",),
    "use-regex-path-match": ("true",),
    "auth-type": ("none", "oidc", "cognito"),
    "auth-scope": ("openid",),
    "auth-session-cookie": ("cookie",),
    "auth-session-timeout": ("3600",),
    "auth-on-unauthenticated-request": ("deny",),
    "listener-attributes.HTTP-80": ("routing.http.response.server.enabled=false",),
}
# Annotation names with a variable part: the generator picks the part.
NAME_PARTS = {
    "actions.": ("split", "web"),
    "conditions.": ("web", "api", "split"),
    "transforms.": ("web", "split"),
    "listener-attributes.": ("HTTP-80", "HTTPS-443", "HTTP-²", "HTTP-١٢", "TCP-80", "HTTP-", "HTTP-99999"),
}
ANNOTATIONS = tuple(sorted({*PLAIN_VALUES, *JSON_TEMPLATES}))


def annotation(c: Chooser) -> tuple[str, str]:
    """(name after the prefix, value): hostile text, a valid value, hostile JSON, or a
    valid JSON configuration with one node made hostile."""
    family = c.pick(ANNOTATIONS)
    name = family + c.pick(NAME_PARTS[family]) if family in NAME_PARTS else family
    roll = c.number(0, 9)
    if roll <= 2:
        return name, c.pick(HOSTILE_TEXT)
    if roll == 3:
        return name, json.dumps(hostile_json(c))
    templates = JSON_TEMPLATES.get(family)
    if templates is None:
        return name, c.pick(PLAIN_VALUES[family])
    return name, json.dumps(mutate(c, c.pick(templates)) if roll <= 8 else c.pick(templates))


# --- objects ----------------------------------------------------------------------------


def service(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}"},
        "spec": {
            "type": "NodePort",
            "ports": [
                {"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080, "protocol": "TCP"},
                {"name": "grpc", "port": 50051, "targetPort": "grpc", "nodePort": 30051, "protocol": "TCP"},
            ],
        },
    }


def path(service_name: str, where: str, port: dict[str, Any]) -> dict[str, Any]:
    return {"path": where, "pathType": "Prefix", "backend": {"service": {"name": service_name, "port": port}}}


def clean_ingress(c: Chooser, name: str, group: str | None) -> dict[str, Any]:
    annotations = {A + "target-type": c.pick(("ip", "instance"))}
    if group:
        annotations[A + "group.name"] = group
    paths = [path("web", f"/{name}", c.pick(({"number": 80}, {"name": "http"})))]
    if chance(c, 40):
        paths.append(path("split", f"/{name}-split", {"name": "use-annotation"}))
        annotations[A + "actions.split"] = json.dumps(c.pick(JSON_TEMPLATES["actions."]))
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}", "annotations": annotations},
        "spec": {"ingressClassName": "alb", "rules": [{"http": {"paths": paths}}]},
    }


def hostile_ingress(c: Chooser, obj: dict[str, Any]) -> str:
    """Make the Ingress's spec or metadata hostile; returns what was done."""
    roll = c.number(0, 9)
    if roll <= 5 or not _clean(obj):
        obj["spec"] = mutate(c, obj.get("spec"))
        return "spec"
    if roll == 6:
        resource = {"apiGroup": "k8s.example.com", "kind": "Bucket", "name": "static"}
        where = c.pick(("defaultBackend", "path"))
        if where == "defaultBackend":
            obj["spec"]["defaultBackend"] = {"resource": resource}
        else:
            obj["spec"]["rules"][0]["http"]["paths"][0]["backend"] = {"resource": resource}
        obj["metadata"]["deletionTimestamp"] = c.pick((None, "2025-01-01T00:00:00Z"))
        return "resource backend"
    obj["metadata"] = mutate(c, obj["metadata"])
    return "metadata"


def hostile_service(c: Chooser, obj: dict[str, Any]) -> None:
    annotations = _annotations(obj)
    if annotations is not None and chance(c, 50):
        name, value = annotation(c)
        annotations[A + name] = value
    else:
        part = c.pick(("spec", "metadata"))
        obj[part] = mutate(c, obj.get(part))


def _annotations(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The object's annotations to add to, unless an earlier mutation made that impossible."""
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return None
    annotations = meta.setdefault("annotations", {})
    return annotations if isinstance(annotations, dict) else None


def _clean(obj: dict[str, Any]) -> bool:
    """Whether an Ingress still has the shape :func:`clean_ingress` gave it."""
    try:
        return isinstance(obj["metadata"], dict) and isinstance(obj["spec"]["rules"][0]["http"]["paths"][0], dict)
    except (KeyError, IndexError, TypeError):
        return False


def ingress_class(params: bool) -> dict[str, Any]:
    spec: dict[str, Any] = {"controller": "ingress.k8s.aws/alb"}
    if params:
        spec["parameters"] = {"apiGroup": "elbv2.k8s.aws", "kind": "IngressClassParams", "name": "shop-params"}
    return {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": "alb"}, "spec": spec}


PARAMS_SPEC = {
    "scheme": "internet-facing",
    "ipAddressType": "ipv4",
    "sslRedirectPort": "443",
    "inboundCIDRs": ["10.0.0.0/8"],
    "subnets": {"tags": {"Name": ["elb-a", "elb-b"]}},
    "tags": [{"key": "team", "value": "shop"}],
    "loadBalancerAttributes": [{"key": "idle_timeout.timeout_seconds", "value": "60"}],
    "minimumLoadBalancerCapacity": {"capacityUnits": 100},
    "listeners": [{"protocol": "HTTP", "port": 80, "listenerAttributes": [{"key": "k", "value": "v"}]}],
    "namespaceSelector": {"matchLabels": {"team": "shop"}, "matchExpressions": [{"key": "a", "operator": "Exists"}]},
    "group": {"name": "shop"},
}


def class_params(c: Chooser) -> dict[str, Any]:
    spec = {k: copy.deepcopy(v) for k, v in PARAMS_SPEC.items() if chance(c, 30)}
    return {
        "apiVersion": "elbv2.k8s.aws/v1beta1",
        "kind": "IngressClassParams",
        "metadata": {"name": "shop-params"},
        "spec": spec,
    }


def endpoint_slice() -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "web-x", "namespace": NS, "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080}],
        "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": True}}],
    }


def node() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "n1", "labels": {"pool": "web"}},
        "spec": {"providerID": "aws:///us-east-1a/i-0123", "taints": [{"key": "x"}]},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


@dataclass
class Manifest:
    objects: list[dict[str, Any]]
    # the one hostile annotation of the one hostile Ingress, when that is all that is hostile
    single: tuple[str, str] | None = None  # (Ingress key, annotation name after the prefix)
    notes: list[str] = field(default_factory=list)


def manifest(c: Chooser) -> Manifest:
    """One manifest set: 1-3 Ingresses (an explicit group or each its own), the Services
    web and api, the IngressClass alb (maybe with IngressClassParams), an EndpointSlice and
    a Node; either exactly one hostile annotation, or hostility anywhere."""
    group = "shop" if chance(c, 60) else None
    ingresses = [clean_ingress(c, f"ing-{i}", group) for i in range(c.number(1, 3))]
    services = [service("web"), service("api")]
    with_params = chance(c, 20)
    others = [ingress_class(with_params), *([class_params(c)] if with_params else []), endpoint_slice(), node()]
    out = Manifest(objects=[])
    target = c.pick(ingresses)
    if chance(c, 50):  # one hostile annotation and nothing else
        name, value = annotation(c)
        target["metadata"]["annotations"][A + name] = value
        out.single = (f"{NS}/{target['metadata']['name']}", name)
    else:
        for _ in range(c.number(1, 4)):
            roll = c.number(0, 9)
            annotations = _annotations(c.pick(ingresses))
            if roll <= 4 and annotations is not None:
                name, value = annotation(c)
                annotations[A + name] = value
                out.notes.append(f"annotation {name}")
            elif roll <= 6:
                out.notes.append(hostile_ingress(c, c.pick(ingresses)))
            elif roll <= 8:
                hostile_service(c, c.pick(services))
                out.notes.append("service")
            else:
                victim = c.pick(others)
                others[others.index(victim)] = mutate(c, victim)
                out.notes.append("other")
    out.objects = [*ingresses, *services, *others]
    return out


def generate(seed: int, count: int) -> list[Manifest]:
    """``count`` manifests, the same for the same seed."""
    chooser = RandomChooser(random.Random(seed))  # noqa: S311  # reproducible test data, not secrets
    return [manifest(chooser) for _ in range(count)]


# JSON values put in place of each field of each JSON template by :func:`sweep`.
HOSTILE_LEAVES: tuple[Any, ...] = (
    None,
    True,
    1.5,
    -1,
    1000,
    2**63,
    "",
    "²",
    "x",
    [],
    {},
    [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],
)


def _nodes(value: Any, trail: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path to every node of a JSON value (the value itself excluded)."""
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    out: list[tuple[Any, ...]] = []
    for key, child in children:
        out.append((*trail, key))
        out += _nodes(child, (*trail, key))
    return out


def _replaced(value: Any, trail: tuple[Any, ...], leaf: Any) -> Any:
    out = copy.deepcopy(value)
    parent = out
    for key in trail[:-1]:
        parent = parent[key]
    parent[trail[-1]] = leaf
    return out


def sweep() -> list[Manifest]:
    """Every annotation name with every hostile text, and every field of every JSON
    configuration with every hostile JSON value, each alone on a clean group of two
    Ingresses whose first has a path to a Service and one to ``actions.split``."""
    out: list[Manifest] = []

    def one(name: str, value: str) -> None:
        first, second = _sweep_base("ing-0"), _sweep_base("ing-1")
        first["metadata"]["annotations"][A + name] = value
        objects = [first, second, service("web"), service("api"), ingress_class(False)]
        out.append(Manifest(objects=objects, single=(f"{NS}/ing-0", name)))

    names = [f + part for f in ANNOTATIONS for part in NAME_PARTS.get(f, ("",))]
    for name in names:
        for text in HOSTILE_TEXT:
            one(name, text)
    for family, templates in JSON_TEMPLATES.items():
        name = family + NAME_PARTS[family][0] if family in NAME_PARTS else family
        for template in templates:
            for trail in _nodes(template):
                for leaf in HOSTILE_LEAVES:
                    one(name, json.dumps(_replaced(template, trail, leaf)))
    return out


def _sweep_base(name: str) -> dict[str, Any]:
    annotations = {
        A + "target-type": "ip",
        A + "group.name": "shop",
        A + "actions.split": json.dumps(JSON_TEMPLATES["actions."][0]),
    }
    paths = [path("web", f"/{name}", {"number": 80}), path("split", f"/{name}-split", {"name": "use-annotation"})]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}", "annotations": annotations},
        "spec": {"ingressClassName": "alb", "rules": [{"http": {"paths": paths}}]},
    }


# --- checks -----------------------------------------------------------------------------

# What an error about one hostile annotation may name instead of it: what a value is
# checked against (AWS facts, the other members, the listeners it implies).
CROSS_CHECKS = (
    "couldn't find",
    "couldn't auto-discover subnets",
    "unable to resolve at least one subnet",
    "subnets count less than",
    "multiple subnets in same",
    "no certificate found for host",
    "has no certificate",
    "listener does not exist for SSLRedirect port",
    "listener protocol non-SSL for SSLRedirect port",
    "conflicting",
    "unsupported IPv6 configuration",
    "backendSG feature is required",
    "TargetGroup port is empty",  # instance targets need the Service's NodePort
    "unable to find port",  # healthcheck-port or a servicePort naming a port the Service lacks
    "service shop/",  # an actions.* forward naming a Service that does not exist
    "multiple ingress defined default backend",
)
# An annotation whose value requires another: an error may name that one instead.
RELATED = {"auth-type": ("auth-idp-oidc", "auth-idp-cognito")}
NAMED = re.compile(r"\(annotation (alb\.ingress\.kubernetes\.io/[^:)]*)")


@dataclass
class Findings:
    manifests: int = 0
    crashes: list[str] = field(default_factory=list)
    unattributed: list[str] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    def crash(self, where: str, e: BaseException, obj: Any) -> None:
        shown = json.dumps(obj, default=str)[:300]
        self.crashes.append(f"{where}: {type(e).__name__}: {str(e)[:200]} on {shown}")


def _contract_helpers(obj: Mapping[str, Any]) -> list[tuple[str, Callable[[], Any]]]:
    return [
        ("contract.services_of", lambda: contract.services_of(obj)),
        ("contract.oidc_secrets", lambda: oidc.oidc_secrets(obj)),
        ("contract.finalizer_for", lambda: contract.finalizer_for(obj, {"alb": "shop"})),
        ("contract.group_name_of", lambda: contract.group_name_of(obj, {"alb": "shop"})),
        ("contract.ingress_is_ours", lambda: contract.ingress_is_ours(obj, classes={}, configured="alb")),
        ("contract.class_groups", lambda: contract.class_groups([obj], [obj])),
        ("contract.params_name", lambda: contract.params_name(obj)),
        ("contract.params_group", lambda: contract.params_group(obj)),
        ("contract.trim", lambda: contract.trim(obj, str(obj.get("kind")))),
        ("k8s.group_key_of", lambda: ingress_view.group_key_of(obj, {"alb": "shop"})),
        ("k8s.routing_view", lambda: ingress_view.routing_view(obj)),
        ("k8s.lifecycle", lambda: ingress_view.lifecycle(obj)),
        ("k8s.class_params_of", lambda: class_params_of(obj, {})),
    ]


VIEWS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "Ingress": ingress_view.parse_ingress,
    "Service": parse_service,
    "EndpointSlice": parse_endpoint_slice,
    "Node": parse_node,
    "IngressClass": parse_ingress_class,
    "IngressClassParams": parse_params,
}


def check_objects(objects: Sequence[Any], found: Findings) -> None:
    """The views, the contract's helpers and ingest's parse of each object as a change."""
    for obj in objects:
        if not isinstance(obj, Mapping):
            continue
        kind = str(obj.get("kind"))
        for where, call in _contract_helpers(obj):
            try:
                call()
            except Exception as e:  # noqa: BLE001  # every exception is a finding
                found.crash(where, e, obj)
        for where, call in (
            ("contract.object_key", lambda o=obj: contract.object_key(o)),
            ("contract.parse_detail", lambda o=obj, k=kind: contract.parse_detail(_detail(k, o))),
        ):
            try:
                call()
            except contract.ContractError:
                pass
            except Exception as e:  # noqa: BLE001  # every other exception is a finding
                found.crash(where, e, obj)
        view = VIEWS.get(kind)
        if view is not None:
            try:
                view(obj)
            except ObjectError:
                pass
            except Exception as e:  # noqa: BLE001  # every other exception is a finding
                found.crash(f"k8s view of {kind}", e, obj)


def _detail(kind: str, obj: Mapping[str, Any]) -> dict[str, Any]:
    """An object-change Detail carrying ``obj`` as the forwarder would send it."""
    try:
        key = contract.object_key(obj)
    except contract.ContractError:
        key = "x"
    return {
        "schemaVersion": contract.SCHEMA_VERSION,
        "cluster": "fuzz",
        "kind": kind,
        "action": "upsert",
        "key": key,
        "resourceVersion": "7",
        "object": obj,
    }


def check_plan(m: Manifest, found: Findings) -> dict[str, Any] | None:
    """``plan --offline`` of the manifest: no exception, JSON output, no defect caught,
    and with one hostile annotation, every error names it or what it is checked against."""
    try:
        result = plan_offline(m.objects, CONFIG, DISCOVERY)
        json.dumps(result)
    except Exception as e:  # noqa: BLE001  # every exception is a finding
        found.crash("plan_offline", e, m.objects)
        return None
    for error in result["errors"]:
        reason = str(error["reason"])
        if reason.startswith("unexpected "):
            found.crashes.append(f"builder: {reason[:300]} ({error['ingress']})")
            continue
        named = NAMED.search(reason)
        found.errors[named.group(1)[len(A) :] if named else _field(reason)] += 1
        if m.single is None:
            continue
        key, name = m.single
        names = (name, *RELATED.get(name, ()))
        if any(f"(annotation {A}{n}" in reason for n in names) or any(text in reason for text in CROSS_CHECKS):
            continue
        if error["ingress"] != key and not reason.startswith("invalid ingress class"):
            found.unattributed.append(f"{error['ingress']} (not the hostile one, {name}): {reason[:300]}")
        else:
            found.unattributed.append(f"{error['ingress']} ({name}): {reason[:300]}")
    for item in result["invalid"]:
        found.errors[f"invalid {str(item['object']).split(' ')[0]}"] += 1
    return result


def _field(reason: str) -> str:
    """What a reason without an annotation is about (its first words)."""
    head = reason.split(":")[0]
    return head if len(head) <= 52 else " ".join(head.split()[:4])


def check(m: Manifest, found: Findings) -> None:
    found.manifests += 1
    check_objects(m.objects, found)
    check_plan(m, found)


def table(found: Findings, seconds: float) -> str:
    lines = [
        f"manifests     {found.manifests}",
        f"seconds       {seconds:.1f}",
        f"crashes       {len(found.crashes)}   (must be 0)",
        f"unattributed  {len(found.unattributed)}   (must be 0)",
        "",
        f"{'errors by annotation or field':<52} count",
    ]
    lines += [f"{name[:52]:<52} {count}" for name, count in found.errors.most_common()]
    for crash in found.crashes[:20]:
        lines.append(f"crash: {crash}")
    for item in found.unattributed[:200]:
        lines.append(f"unattributed: {item}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifests", type=int, default=10_000, help="random manifests, after the sweep")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--no-sweep", action="store_true", help="only the random manifests")
    args = parser.parse_args(argv)
    found = Findings()
    started = time.monotonic()
    for m in [*([] if args.no_sweep else sweep()), *generate(args.seed, args.manifests)]:
        try:
            check(m, found)
        except Exception as e:  # noqa: BLE001  # a defect in the checks themselves: show it, go on
            found.crashes.append("checker: " + "".join(traceback.format_exception_only(e)).strip())
    print(table(found, time.monotonic() - started))
    return 1 if found.crashes or found.unattributed else 0


if __name__ == "__main__":
    sys.exit(main())
