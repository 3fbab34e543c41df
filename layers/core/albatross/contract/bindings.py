"""TargetGroupBindings (LBC's ``elbv2.k8s.aws/v1beta1`` CRD): a target group someone else
made (Terraform, CloudFormation, by hand), kept registered with a Service's ready pods or
serving nodes, with the backend security group rules its ``networking`` asks for
(docs/adr/0013-target-group-binding.md).

What both sides need to agree on, standard library only:

* which bindings are served: not those LBC generated for its own Ingresses, Services
  and Gateways (labelled with their stack), which Albatross leaves inert
  (:func:`served`);
* the spec as LBC defines it, read leniently where LBC's defaults apply and refused with
  a message where Albatross cannot honour it (:func:`parse_spec`);
* what makes a target group bindable, given its description and tags
  (:func:`target_group_problem`): it exists, it is in the binding's VPC (the cluster's,
  unless ``vpcID`` says otherwise), of the binding's target type and address family,
  tagged for this cluster, and no Albatross or LBC stack's;
* the write-back messages about a binding (``bindingStatus``: ``status.observedGeneration``;
  ``bindingEvent``: an Event with one of :data:`EVENT_REASONS`), which the forwarder
  judges as it judges an Ingress's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from albatross.contract.reading import listed, mapping

KIND = "TargetGroupBinding"
API_GROUP = "elbv2.k8s.aws"
API_VERSION = "v1beta1"
PLURAL = "targetgroupbindings"
# The tag a target group must carry to be bound (LBC's cluster tag): the functions may
# register and deregister targets only on target groups tagged for their cluster
# (template.yaml, ChangeTaggedLoadBalancersAndTargetGroups).
CLUSTER_TAG = "elbv2.k8s.aws/cluster"
# Tags of a target group a stack made (Albatross's and LBC's Ingresses, LBC's Services):
# its registrations are that stack's, never a binding's.
STACK_TAGS = ("ingress.k8s.aws/stack", "service.k8s.aws/stack")
# Label keys LBC puts on the bindings it generates for its own stacks (Ingresses,
# Services, Gateways): those stay inert under Albatross (docs/migrating-from-lbc.md).
_GENERATED_LABEL_PREFIXES = ("ingress.k8s.aws/stack", "service.k8s.aws/stack", "gateway.k8s.aws/")
TARGET_TYPES = ("instance", "ip")
IP_ADDRESS_TYPES = ("ipv4", "ipv6")


class BindingError(ValueError):
    """The binding cannot be served as it is; the message says why, for its Warning."""


# The key a binding's targets sync under on the cloud side (its message group on the
# targets queue, its state item): apart from every IngressGroup's (an implicit group is
# namespace/name, an explicit one has no ':').
GROUP_PREFIX = "binding:"


def group_of(key: str) -> str:
    """The sync group of the binding ``key`` (``namespace/name``)."""
    return GROUP_PREFIX + key


def binding_of(group: str) -> str | None:
    """The binding key a sync group stands for, or None: an IngressGroup."""
    return group[len(GROUP_PREFIX) :] if group.startswith(GROUP_PREFIX) else None


def served(obj: Mapping[str, Any]) -> bool:
    """Whether Albatross serves this binding: every one but those LBC generated for its
    own stacks (a cluster moved from LBC keeps them; their target groups are Ingresses')."""
    labels = mapping(mapping(obj.get("metadata")).get("labels"))
    return not any(str(k).startswith(_GENERATED_LABEL_PREFIXES) for k in labels)


def service_of(obj: Mapping[str, Any]) -> str | None:
    """``namespace/name`` of the Service a served binding names, or None. Never raises:
    the forwarder sends that Service and its slices whatever else the spec holds."""
    if not served(obj):
        return None
    namespace = mapping(obj.get("metadata")).get("namespace")
    name = mapping(mapping(obj.get("spec")).get("serviceRef")).get("name")
    if isinstance(namespace, str) and namespace and isinstance(name, str) and name:
        return f"{namespace}/{name}"
    return None


@dataclass(frozen=True)
class Peer:
    """One ``networking.ingress[].from`` entry Albatross honours: a security group."""

    security_group: str


@dataclass(frozen=True)
class IngressRule:
    """One ``networking.ingress`` entry: its sources and ports (``port`` None: the
    target's own port; a name: resolved by LBC against the pod, here the target's port)."""

    sources: tuple[str, ...]
    ports: tuple[tuple[str, int | None], ...]


@dataclass(frozen=True)
class Spec:
    """A binding's spec as LBC defines it, read (see :func:`parse_spec`)."""

    namespace: str
    name: str
    uid: str
    generation: int
    service: str  # namespace/name
    port: int | str  # serviceRef.port: a number or a port name
    target_group_arn: str = ""
    target_group_name: str = ""
    target_type: str | None = None  # None: the target group's
    ip_address_type: str | None = None  # None: ipv4, as LBC's validator takes it
    vpc_id: str = ""  # "": the cluster's
    node_selector: Mapping[str, str] = field(default_factory=dict)  # matchLabels
    networking: tuple[IngressRule, ...] = ()
    multi_cluster: bool = False

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def _string(spec: Mapping[str, Any], name: str) -> str:
    value = spec.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BindingError(f"spec.{name} must be a string")
    return value.strip()


def _port(value: Any, where: str) -> int | str:
    if isinstance(value, bool) or not isinstance(value, int | str) or value in ("", 0):
        raise BindingError(f"{where} must be a port number or name")
    if isinstance(value, int) and not 0 < value < 65536:
        raise BindingError(f"{where} {value} is not a port (1-65535)")
    return value


def _networking(spec: Mapping[str, Any]) -> tuple[IngressRule, ...]:
    rules: list[IngressRule] = []
    for i, entry in enumerate(listed(mapping(spec.get("networking")).get("ingress"))):
        where = f"spec.networking.ingress[{i}]"
        sources: list[str] = []
        for j, peer in enumerate(listed(mapping(entry).get("from"))):
            peer = mapping(peer)
            if "ipBlock" in peer:
                # backend rules here are sourced from security groups only (Rule's source)
                raise BindingError(
                    f"{where}.from[{j}]: ipBlock peers are not supported by Albatross; use a securityGroup"
                )
            group = mapping(peer.get("securityGroup")).get("groupID")
            if not isinstance(group, str) or not group.startswith("sg-"):
                raise BindingError(f"{where}.from[{j}] must name a securityGroup.groupID (sg-...)")
            sources.append(group)
        ports: list[tuple[str, int | None]] = []
        for j, port in enumerate(listed(mapping(entry).get("ports"))):
            port = mapping(port)
            protocol = str(port.get("protocol") or "TCP").upper()
            if protocol not in ("TCP", "UDP"):
                raise BindingError(f"{where}.ports[{j}].protocol must be TCP or UDP")
            value = port.get("port")
            number = _port(value, f"{where}.ports[{j}].port") if value is not None else None
            # a named port is the target's own port (LBC resolves the name on the pod)
            ports.append((protocol, number if isinstance(number, int) else None))
        if not sources:
            raise BindingError(f"{where} names no source (from)")
        rules.append(IngressRule(sources=tuple(sources), ports=tuple(ports) or (("TCP", None),)))
    return tuple(rules)


def parse_spec(obj: Mapping[str, Any]) -> Spec:
    """The binding's spec, or BindingError saying what Albatross cannot serve: no target
    group (``targetGroupARN`` wins over ``targetGroupName``, as in LBC), no Service or
    port, an unknown target or address type, a node selector with ip targets (LBC's
    validator refuses it too) or with ``matchExpressions``, a networking peer that is
    not a security group."""
    meta = mapping(obj.get("metadata"))
    spec = mapping(obj.get("spec"))
    namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
    arn, tg_name = _string(spec, "targetGroupARN"), _string(spec, "targetGroupName")
    if not arn and not tg_name:
        raise BindingError("spec.targetGroupARN or spec.targetGroupName must name the target group")
    ref = mapping(spec.get("serviceRef"))
    service = ref.get("name")
    if not isinstance(service, str) or not service:
        raise BindingError("spec.serviceRef.name must name a Service of the binding's namespace")
    port = _port(ref.get("port"), "spec.serviceRef.port")
    target_type = _string(spec, "targetType") or None
    if target_type is not None and target_type not in TARGET_TYPES:
        raise BindingError(f"spec.targetType {target_type!r} is not instance or ip")
    family = _string(spec, "ipAddressType") or None
    if family is not None and family not in IP_ADDRESS_TYPES:
        raise BindingError(f"spec.ipAddressType {family!r} is not ipv4 or ipv6")
    selector = spec.get("nodeSelector")
    labels: dict[str, str] = {}
    if selector is not None:
        if target_type == "ip":
            raise BindingError("TargetGroupBinding cannot set NodeSelector when TargetType is ip")
        if mapping(selector).get("matchExpressions"):
            raise BindingError("spec.nodeSelector.matchExpressions is not supported by Albatross; use matchLabels")
        labels = {str(k): str(v) for k, v in mapping(mapping(selector).get("matchLabels")).items()}
    if spec.get("iamRoleArnToAssume"):
        # the functions' own role registers; another account's target group is not reached
        raise BindingError("spec.iamRoleArnToAssume (a target group of another account) is not supported by Albatross")
    multi = spec.get("multiClusterTargetGroup", False)
    if not isinstance(multi, bool):
        raise BindingError("spec.multiClusterTargetGroup must be true or false")
    generation = meta.get("generation")
    return Spec(
        namespace=namespace,
        name=name,
        uid=str(meta.get("uid") or ""),
        generation=generation if isinstance(generation, int) and not isinstance(generation, bool) else 0,
        service=f"{namespace}/{service}",
        port=port,
        target_group_arn=arn,
        target_group_name="" if arn else tg_name,
        target_type=target_type,
        ip_address_type=family,
        vpc_id=_string(spec, "vpcID"),
        node_selector=labels,
        networking=_networking(spec),
        multi_cluster=multi,
    )


def target_group_problem(
    spec: Spec, target_group: Mapping[str, Any] | None, *, tags: Mapping[str, str], cluster: str, vpc_id: str
) -> str | None:
    """Why the target group ``spec`` names cannot be bound (None: it can).
    ``target_group``: its DescribeTargetGroups entry (None: there is none); ``tags``:
    its tags; ``vpc_id``: the cluster's VPC."""
    named = spec.target_group_arn or f"named {spec.target_group_name}"
    if target_group is None:
        return f"target group {named} not found"
    kind = str(target_group.get("TargetType") or "")
    if kind not in TARGET_TYPES:
        return f"target group {named} has target type {kind or '(none)'}: only instance and ip are bound"
    if spec.target_type is not None and spec.target_type != kind:
        return f"target group {named} has target type {kind}, the binding says {spec.target_type}"
    want_vpc = spec.vpc_id or vpc_id
    if want_vpc and target_group.get("VpcId") != want_vpc:
        whose = "spec.vpcID" if spec.vpc_id else "the cluster's VPC"
        return f"target group {named} is in VPC {target_group.get('VpcId')}, not {want_vpc} ({whose})"
    family = str(target_group.get("IpAddressType") or "ipv4")
    if family != (spec.ip_address_type or "ipv4"):
        return f"invalid IP address type {family} for TargetGroup {named}"
    if any(tag in tags for tag in STACK_TAGS):
        stack = ", ".join(sorted(set(STACK_TAGS) & set(tags)))
        return f"target group {named} belongs to a load balancer's stack (tagged {stack}): it is not bound"
    if tags.get(CLUSTER_TAG) != cluster:
        return (
            f"target group {named} is not tagged {CLUSTER_TAG}={cluster}: tag it so that Albatross "
            "may register targets in it (docs/operations.md, Binding your own target groups)"
        )
    return None


def model_binding(spec: Spec, target_group: Mapping[str, Any]) -> dict[str, Any]:
    """The binding of the target group as the model states one of its own
    (:class:`albatross.model.stack.Resource`'s ``binding``), so that its targets and
    backend rules take the same path."""
    kind = str(target_group["TargetType"])
    binding: dict[str, Any] = {
        "service": spec.service,
        "servicePortNumber": spec.port if isinstance(spec.port, int) else None,
        "servicePortName": spec.port if isinstance(spec.port, str) else None,
        "targetType": kind,
    }
    if str(target_group.get("IpAddressType") or "ipv4") == "ipv6":
        binding["ipAddressType"] = "ipv6"
    if spec.networking:
        binding["networking"] = {
            "ingress": [
                {
                    "from": [{"securityGroup": group} for group in rule.sources],
                    "ports": [{"Protocol": p, **({"Port": n} if n is not None else {})} for p, n in rule.ports],
                }
                for rule in spec.networking
            ]
        }
    if spec.node_selector and kind == "instance":
        binding["nodeSelector"] = {"matchLabels": dict(spec.node_selector)}
    if spec.multi_cluster:
        binding["multiCluster"] = True
    return binding


# --- write-back: the cloud side → the forwarder, about a binding ------------------------

WRITEBACK_TYPES = ("bindingStatus", "bindingEvent")
# The reasons of the Events Albatross records on bindings: LBC's TargetGroupBinding
# reasons (pkg/k8s/events.go) it has a use for, and InvalidTargetGroupBinding: a spec or
# target group it cannot serve (LBC's admission webhook refuses such a binding when it is
# made; Albatross runs no webhook, so it says so on the binding afterwards).
INVALID = "InvalidTargetGroupBinding"
EVENT_REASONS = frozenset({"SuccessfullyReconciled", "BackendNotFound", "FailedCleanup", INVALID})


class BindingWriteBackError(ValueError):
    """A binding write-back does not follow the contract."""


@dataclass(frozen=True)
class BindingWriteBack:
    """One instruction about one binding: ``bindingStatus`` sets
    ``status.observedGeneration``; ``bindingEvent`` records an Event."""

    type: str
    cluster: str
    binding: str  # namespace/name
    uid: str = ""
    observed_generation: int = 0
    event_type: str = ""
    reason: str = ""
    message: str = ""

    def to_body(self) -> str:
        body: dict[str, Any] = {
            "schemaVersion": "1",
            "type": self.type,
            "cluster": self.cluster,
            "binding": self.binding,
        }
        if self.uid:
            body["uid"] = self.uid
        if self.type == "bindingStatus":
            body["observedGeneration"] = self.observed_generation
        else:
            body.update(eventType=self.event_type, reason=self.reason, message=self.message)
        return json.dumps(body, separators=(",", ":"), sort_keys=True)


def parse_binding_writeback(body: str) -> BindingWriteBack | None:
    """The binding write-back ``body`` holds; None when it is no binding write-back (the
    other write-back types: :func:`albatross.contract.parse_writeback`); a malformed one
    raises BindingWriteBackError."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None  # not JSON: parse_writeback says so
    if not isinstance(data, dict) or data.get("type") not in WRITEBACK_TYPES:
        return None
    if data.get("schemaVersion") != "1":
        raise BindingWriteBackError(f"unsupported write-back schemaVersion {data.get('schemaVersion')!r}")
    cluster, binding, uid = data.get("cluster"), data.get("binding"), data.get("uid", "")
    if not isinstance(cluster, str) or not cluster:
        raise BindingWriteBackError("write-back cluster must be a non-empty string")
    if not isinstance(binding, str) or binding.count("/") != 1 or "" in binding.split("/"):
        raise BindingWriteBackError(f"write-back binding {str(binding)[:100]!r} is not namespace/name")
    if not isinstance(uid, str):
        raise BindingWriteBackError("write-back uid must be a string")
    if data["type"] == "bindingStatus":
        generation = data.get("observedGeneration")
        if not isinstance(generation, int) or isinstance(generation, bool) or generation < 0:
            raise BindingWriteBackError("write-back observedGeneration must be a whole number")
        return BindingWriteBack(
            type="bindingStatus", cluster=cluster, binding=binding, uid=uid, observed_generation=generation
        )
    event_type, reason, message = data.get("eventType"), data.get("reason"), data.get("message")
    if event_type not in ("Normal", "Warning"):
        raise BindingWriteBackError(f"write-back eventType {str(event_type)[:50]!r} is not Normal or Warning")
    if not isinstance(reason, str) or not reason or not isinstance(message, str) or not message:
        raise BindingWriteBackError("write-back reason and message must be non-empty strings")
    return BindingWriteBack(
        type="bindingEvent",
        cluster=cluster,
        binding=binding,
        uid=uid,
        event_type=str(event_type),
        reason=reason,
        message=message,
    )
