"""The full state of every Albatross-tagged stack in (local) AWS, one key per AWS object
or setting-set, and the difference between two such states.

Reads go through clients of their own boto3 session, never through
``albatross.aws.clients``: the CallCounter hooks only the shared clients, so what the
benchmark reads to measure is never counted as what the controller did.

Keys (names, not ARNs, so a key survives a re-read; values hold the ARN, so an object
replaced under the same name counts as changed):

* ``lb/<name>``: scheme, type, IP address type, subnets, security groups, tags;
* ``lb/<name>/attributes``: the attributes that differ from AWS's defaults;
* ``listener/<lb>/<port>``: protocol, default actions, default certificate, SSL policy,
  tags;
* ``listener/<lb>/<port>/certificates``: the SNI certificates (all but the default);
* ``rule/<lb>/<port>/<hash of conditions + actions>``: the rule's priority and tags. A
  rule is known by its content, so a priority move is a change of that rule; a rule whose
  content is rewritten in place (same ARN, new key) counts once, not as removed + added;
* ``tg/<name>``: protocol, port, target type, VPC, health check, tags;
* ``tg/<name>/attributes``: the attributes that differ from AWS's defaults;
* ``tg/<name>/targets``: the registered targets (id, port, zone);
* ``sg/<name>``: VPC, description, tags;
* ``sg/<name>/ingress``: the inbound permissions.

A setting-set that is empty (or at its defaults) has no key: a new load balancer with
default attributes is one key, as it is one ``CreateLoadBalancer``. Target groups in
actions are shown by name, so replacing a target group does not also rename every rule
that forwards to it.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import boto3
from botocore.config import Config

from albatross.model.names import LEGACY_TAG_CLUSTER, TAG_CLUSTER, TAG_STACK

if TYPE_CHECKING:
    from mypy_boto3_acm import ACMClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client
    from mypy_boto3_resourcegroupstaggingapi import ResourceGroupsTaggingAPIClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_stepfunctions import SFNClient

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)
_lock = threading.Lock()
_clients: dict[tuple[str, str], Any] = {}


def _client(service: str) -> Any:
    """A client that no counting hook sees, made once per service and endpoint."""
    key = (service, os.environ.get("AWS_ENDPOINT_URL", ""))
    with _lock:
        if key not in _clients:
            _clients[key] = boto3.session.Session().client(service, config=_CONFIG)  # type: ignore[call-overload]  # service is a runtime name
        return _clients[key]


def elbv2() -> ElasticLoadBalancingv2Client:
    return cast("ElasticLoadBalancingv2Client", _client("elbv2"))


def ec2() -> EC2Client:
    return cast("EC2Client", _client("ec2"))


def tagging() -> ResourceGroupsTaggingAPIClient:
    return cast("ResourceGroupsTaggingAPIClient", _client("resourcegroupstaggingapi"))


def acm() -> ACMClient:
    return cast("ACMClient", _client("acm"))


def sqs() -> SQSClient:
    return cast("SQSClient", _client("sqs"))


def sfn() -> SFNClient:
    return cast("SFNClient", _client("stepfunctions"))


# AWS's documented defaults (and moto's, where it reports another value for the same
# "nothing set" state). An attribute at its default is not part of the state.
_LB_DEFAULTS: Mapping[str, tuple[str, ...]] = {
    "access_logs.s3.enabled": ("false",),
    "access_logs.s3.bucket": ("",),
    "access_logs.s3.prefix": ("",),
    "connection_logs.s3.enabled": ("false",),
    "connection_logs.s3.bucket": ("",),
    "connection_logs.s3.prefix": ("",),
    "health_check_logs.s3.enabled": ("false",),
    "health_check_logs.s3.bucket": ("",),
    "health_check_logs.s3.prefix": ("",),
    "client_keep_alive.seconds": ("3600",),
    "deletion_protection.enabled": ("false",),
    "idle_timeout.timeout_seconds": ("60",),
    "load_balancing.cross_zone.enabled": ("true", "false"),  # always on for ALBs; moto says false
    "ipv6.deny_all_igw_traffic": ("false", "true"),  # false when internet-facing, true when internal
    "routing.http2.enabled": ("true",),
    "routing.http.desync_mitigation_mode": ("defensive",),
    "routing.http.drop_invalid_header_fields.enabled": ("false",),
    "routing.http.preserve_host_header.enabled": ("false",),
    "routing.http.x_amzn_tls_version_and_cipher_suite.enabled": ("false",),
    "routing.http.xff_client_port.enabled": ("false",),
    "routing.http.xff_header_processing.mode": ("append",),
    "waf.fail_open.enabled": ("false",),
    "zonal_shift.config.enabled": ("false",),
}
_TG_DEFAULTS: Mapping[str, tuple[str, ...]] = {
    "deregistration_delay.timeout_seconds": ("300",),
    "deregistration_delay.connection_termination.enabled": ("false",),
    "stickiness.enabled": ("false",),
    "stickiness.type": ("lb_cookie", "source_ip"),  # lb_cookie for HTTP(S), source_ip for TCP/UDP
    "stickiness.lb_cookie.duration_seconds": ("86400",),
    "stickiness.app_cookie.cookie_name": ("",),
    "stickiness.app_cookie.duration_seconds": ("86400",),
    "load_balancing.algorithm.type": ("round_robin",),
    "load_balancing.algorithm.anomaly_mitigation": ("off",),
    "load_balancing.cross_zone.enabled": ("use_load_balancer_configuration",),
    "slow_start.duration_seconds": ("0",),
    "waf.fail_open.enabled": ("false",),  # moto reports it on target groups
    "lambda.multi_value_headers.enabled": ("false",),
    "target_group_health.dns_failover.minimum_healthy_targets.count": ("1",),
    "target_group_health.dns_failover.minimum_healthy_targets.percentage": ("off",),
    "target_group_health.unhealthy_state_routing.minimum_healthy_targets.count": ("1",),
    "target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage": ("off",),
    "target_failover.on_deregistration": ("no_rebalance",),
    "target_failover.on_unhealthy": ("no_rebalance",),
}
_TYPE_FILTERS = ["elasticloadbalancing:loadbalancer", "elasticloadbalancing:targetgroup", "ec2:security-group"]


def _tags(items: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in items}


def _non_default(attributes: Iterable[Mapping[str, Any]], defaults: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    out = {str(a["Key"]): str(a.get("Value", "")) for a in attributes}
    return {k: v for k, v in sorted(out.items()) if v not in defaults.get(k, ())}


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


@dataclass
class State:
    """Key → comparable value, and the stack each key belongs to."""

    entries: dict[str, Any] = field(default_factory=dict)
    stack_of: dict[str, str] = field(default_factory=dict)

    def put(self, key: str, stack: str, value: Any) -> None:
        self.entries[key] = value
        self.stack_of[key] = stack

    def listeners(self, stacks: Iterable[str]) -> int:
        wanted = set(stacks)
        return sum(1 for k, s in self.stack_of.items() if s in wanted and _kind(k) == "listener")


def _kind(key: str) -> str:
    """``lb``, ``lb/attributes``, ``listener``, ``listener/certificates``, ``rule``, ``tg``,
    ``tg/attributes``, ``tg/targets``, ``sg``, ``sg/ingress``."""
    head, *rest = key.split("/")
    if head in ("lb", "tg", "sg"):
        return head if len(rest) == 1 else f"{head}/{rest[-1]}"
    if head == "listener":
        return head if len(rest) == 2 else f"{head}/{rest[-1]}"
    return head


def _owned(wanted: set[str] | None) -> dict[str, dict[str, str]]:
    """ARN → tags of every load balancer, target group and security group with a stack
    tag and a cluster tag (current or legacy key)."""
    out: dict[str, dict[str, str]] = {}
    pages = (
        tagging()
        .get_paginator("get_resources")
        .paginate(TagFilters=[{"Key": TAG_STACK}], ResourceTypeFilters=_TYPE_FILTERS)
    )
    for page in pages:
        for item in page.get("ResourceTagMappingList", []):
            tags = _tags(item.get("Tags", []))
            if not (TAG_CLUSTER in tags or LEGACY_TAG_CLUSTER in tags):
                continue
            if wanted is None or tags.get(TAG_STACK) in wanted:
                out[item["ResourceARN"]] = tags
    return out


def _actions(actions: Iterable[Mapping[str, Any]], tg_names: Mapping[str, str]) -> list[Any]:
    """Actions with target group ARNs replaced by names, defaults AWS fills in left out."""

    def named(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {
                k: (tg_names.get(str(v), str(v)) if k == "TargetGroupArn" else named(v))
                for k, v in value.items()
                if k != "Order"
            }
        if isinstance(value, list):
            return [named(v) for v in value]
        return value

    return [named(a) for a in sorted(actions, key=lambda a: int(a.get("Order", 0)))]


def _resource_tags(arns: Sequence[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for chunk in _chunks(arns, 20):
        for desc in elbv2().describe_tags(ResourceArns=chunk)["TagDescriptions"]:
            out[desc["ResourceArn"]] = _tags(desc.get("Tags", []))
    return out


def read(stacks: Iterable[str] | None = None) -> State:
    """The state of the named stacks (every Albatross-tagged stack when None)."""
    owned = _owned(set(stacks) if stacks is not None else None)
    state = State()
    lb = tg = elbv2()

    tg_arns = {a: t for a, t in owned.items() if ":targetgroup/" in a}
    tg_names: dict[str, str] = {}
    if tg_arns:
        for page in tg.get_paginator("describe_target_groups").paginate():
            for group in page["TargetGroups"]:
                arn = group["TargetGroupArn"]
                tg_names[arn] = group["TargetGroupName"]
                if arn not in tg_arns:
                    continue
                stack = tg_arns[arn][TAG_STACK]
                name = group["TargetGroupName"]
                keep = {k: v for k, v in group.items() if k not in ("LoadBalancerArns", "TargetGroupName")}
                state.put(f"tg/{name}", stack, {**keep, "Tags": tg_arns[arn]})
                attributes = _non_default(
                    tg.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"], _TG_DEFAULTS
                )
                if attributes:
                    state.put(f"tg/{name}/attributes", stack, attributes)
                health = tg.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
                targets = sorted(_canonical(h["Target"]) for h in health)
                if targets:
                    state.put(f"tg/{name}/targets", stack, targets)

    sg_arns = {a.rsplit("/", 1)[-1]: t for a, t in owned.items() if ":security-group/" in a}
    sg_names: dict[str, str] = {}
    for chunk in _chunks(sorted(sg_arns), 200):
        for sg in ec2().describe_security_groups(GroupIds=chunk)["SecurityGroups"]:
            gid, name = sg["GroupId"], sg["GroupName"]
            stack = sg_arns[gid][TAG_STACK]
            sg_names[gid] = name
            state.put(
                f"sg/{name}",
                stack,
                {"GroupId": gid, "VpcId": sg.get("VpcId"), "Description": sg.get("Description"), "Tags": sg_arns[gid]},
            )
            ingress = sorted(_canonical(p) for p in sg.get("IpPermissions", []))
            if ingress:
                state.put(f"sg/{name}/ingress", stack, ingress)

    lb_arns = {a: t for a, t in owned.items() if ":loadbalancer/" in a}
    if not lb_arns:
        return state
    listener_tags: list[tuple[str, str, str]] = []  # (key, arn, stack) of listeners and rules
    for lb_page in lb.get_paginator("describe_load_balancers").paginate():
        for balancer in lb_page["LoadBalancers"]:
            arn = balancer["LoadBalancerArn"]
            if arn not in lb_arns:
                continue
            stack, name = lb_arns[arn][TAG_STACK], balancer["LoadBalancerName"]
            state.put(
                f"lb/{name}",
                stack,
                {
                    "LoadBalancerArn": arn,
                    "Scheme": balancer.get("Scheme"),
                    "Type": balancer.get("Type"),
                    "IpAddressType": balancer.get("IpAddressType"),
                    "Subnets": sorted(z.get("SubnetId", "") for z in balancer.get("AvailabilityZones", [])),
                    "SecurityGroups": sorted(sg_names.get(g, g) for g in balancer.get("SecurityGroups", [])),
                    "Tags": lb_arns[arn],
                },
            )
            attributes = _non_default(
                lb.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"], _LB_DEFAULTS
            )
            if attributes:
                state.put(f"lb/{name}/attributes", stack, attributes)
            for lpage in lb.get_paginator("describe_listeners").paginate(LoadBalancerArn=arn):
                for listener in lpage["Listeners"]:
                    _listener(state, listener, name, stack, tg_names, listener_tags)
    tags = _resource_tags([arn for _, arn, _ in listener_tags])
    for key, arn, _ in listener_tags:
        state.entries[key] = {**state.entries[key], "Tags": tags.get(arn, {})}
    return state


def _listener(
    state: State,
    listener: Mapping[str, Any],
    lb_name: str,
    stack: str,
    tg_names: Mapping[str, str],
    tagged: list[tuple[str, str, str]],
) -> None:
    arn, port = listener["ListenerArn"], int(listener["Port"])
    default = [c["CertificateArn"] for c in listener.get("Certificates", [])][:1]
    key = f"listener/{lb_name}/{port}"
    state.put(
        key,
        stack,
        {
            "ListenerArn": arn,
            "Protocol": listener.get("Protocol"),
            "SslPolicy": listener.get("SslPolicy"),
            "DefaultCertificate": default[0] if default else None,
            "DefaultActions": _actions(listener.get("DefaultActions", []), tg_names),
            "AlpnPolicy": listener.get("AlpnPolicy"),
            "MutualAuthentication": listener.get("MutualAuthentication"),
        },
    )
    tagged.append((key, arn, stack))
    if listener.get("Protocol") in ("HTTPS", "TLS"):
        certificates = elbv2().describe_listener_certificates(ListenerArn=arn)["Certificates"]
        sni = sorted(
            str(c["CertificateArn"])
            for c in certificates
            if not c.get("IsDefault") and c["CertificateArn"] not in default
        )
        if sni:
            state.put(f"{key}/certificates", stack, sni)
    for page in elbv2().get_paginator("describe_rules").paginate(ListenerArn=arn):
        for rule in page["Rules"]:
            if rule.get("IsDefault"):
                continue
            content = {
                "Conditions": sorted(_canonical(c) for c in rule.get("Conditions", [])),
                "Actions": _actions(rule.get("Actions", []), tg_names),
            }
            digest = hashlib.sha256(_canonical(content).encode()).hexdigest()[:12]
            rule_key = f"rule/{lb_name}/{port}/{digest}"
            state.put(rule_key, stack, {"RuleArn": rule["RuleArn"], "Priority": rule["Priority"], **content})
            tagged.append((rule_key, rule["RuleArn"], stack))


@dataclass(frozen=True)
class Diff:
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]  # same key, other value; and rules rewritten in place ("old -> new")

    @property
    def count(self) -> int:
        return len(self.added) + len(self.removed) + len(self.changed)

    def by_kind(self) -> dict[str, dict[str, int]]:
        """Kind → {"added", "removed", "changed"} counts (non-zero only)."""
        out: dict[str, dict[str, int]] = {}
        for what, keys in (("added", self.added), ("removed", self.removed), ("changed", self.changed)):
            for key in keys:
                kind = _kind(key.split(" -> ")[0])
                out.setdefault(kind, {})
                out[kind][what] = out[kind].get(what, 0) + 1
        return dict(sorted(out.items()))


def diff(before: State, after: State) -> Diff:
    """Keys added, removed, or with another value. A rule key removed and one added with
    the same ARN is one rule whose content was rewritten: one change."""
    old, new = before.entries, after.entries
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    changed = sorted(k for k in set(old) & set(new) if _canonical(old[k]) != _canonical(new[k]))

    def arn(entries: Mapping[str, Any], key: str) -> str | None:
        value = entries[key]
        return str(value["RuleArn"]) if key.startswith("rule/") and isinstance(value, Mapping) else None

    gone = {a: k for k in removed if (a := arn(old, k))}
    for key in list(added):
        was = gone.get(arn(new, key) or "")
        if was is not None:
            added.remove(key)
            removed.remove(was)
            changed.append(f"{was} -> {key}")
    return Diff(added=tuple(added), removed=tuple(removed), changed=tuple(sorted(changed)))
