"""Build one IngressGroup's desired stack.

Members are taken in LBC's order (``group.order``, then namespace/name). A member whose
annotations or spec are invalid is reported in ``errors`` and left out; a conflict
between members on a group-level setting is reported on every member and yields no
stack. What that means for AWS is the caller's decision (ADR 0002).

Whatever one Ingress holds, building never raises: an exception other than an
ObjectError while reading one member (a defect of ours that its values reach) is that
member's error, marked internal (``MemberError.internal``, ADR 0010: its Warning says
the fault is Albatross's, not the Ingress's); one while putting the group together is
every member's internal error. Either way the caller gets a result to report and the group's
other work is not held up by a message that fails on every delivery.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from albatross.contract.membership import member_sort_key
from albatross.k8s.errors import Internal, ObjectError, PermanentUser, internal, unexpected
from albatross.k8s.ingress import GroupID, Ingress, Path
from albatross.k8s.params import IngressClassParams
from albatross.k8s.service import Service
from albatross.model import certificates, frontend_nlb, names, optimizer, rules, target_group
from albatross.model import listener as listeners_
from albatross.model import load_balancer as lb
from albatross.model.config import ControllerConfig
from albatross.model.discovery import Discovery
from albatross.model.settings import (
    GroupConflict,
    MemberSettings,
    apply_params,
    exclusive,
    merged_attributes,
    merged_tags,
    read_member,
)
from albatross.model.stack import LISTENER, LISTENER_RULE, Resource, Stack, ref

# Kept importable from here: the pure path rules are part of the builder's surface.
path_values = rules.path_values


@dataclass(frozen=True)
class MemberError:
    """Why one member was left out. ``internal`` is empty for the user's error (the
    reason is LBC's wording) and ``Type: message`` for a defect of ours (ADR 0010)."""

    ingress: str
    reason: str
    internal: str = ""

    @staticmethod
    def of(ingress: str, e: Exception) -> MemberError:
        """The error an exception makes: the user's (an ObjectError, say) as its message,
        anything else as an internal failure (the classifying boundary, ADR 0010)."""
        if isinstance(e, PermanentUser):
            return MemberError(ingress, str(e))
        cause = e.cause if isinstance(e, Internal) else e
        return MemberError(ingress, unexpected(cause), internal=internal(cause))


@dataclass(frozen=True)
class BuildResult:
    stack: Stack | None
    errors: tuple[MemberError, ...] = ()
    members: tuple[str, ...] = ()
    service_refs: tuple[str, ...] = field(default=())


@dataclass
class _Member:
    """What one member contributes: target groups, rules per path, default backend."""

    settings: MemberSettings
    target_groups: dict[str, Resource] = field(default_factory=dict)
    # (conditions, actions, authenticate action or None, transforms or None) per path
    rules: list[
        tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any] | None, list[dict[str, Any]] | None]
    ] = field(default_factory=list)
    default_action: dict[str, Any] | None = None


class _Context:
    def __init__(
        self,
        *,
        config: ControllerConfig,
        group: GroupID,
        services: Mapping[str, Service],
        unreadable: Mapping[str, str],
        dualstack: bool,
        traffic_from: Any,
        discovery: Discovery,
    ) -> None:
        self.config = config
        self.discovery = discovery
        self.group = group
        self.services = services
        self.unreadable = unreadable
        self.dualstack = dualstack
        self.traffic_from = traffic_from
        self.service_refs: set[str] = set()

    def member(self, settings: MemberSettings) -> _Member:
        out = _Member(settings=settings)
        ing = settings.ingress

        def forward(service: str, number: int | None, name: str | None) -> dict[str, Any]:
            key = f"{ing.namespace}/{service}"
            self.service_refs.add(key)
            svc = self.services.get(key)
            if svc is None and key in self.unreadable:
                raise ObjectError(f"service {key} cannot be read: {self.unreadable[key]}")
            if svc is None:
                if self.config.tolerate_missing_service:
                    raise rules.MissingService(f"service {key} does not exist")
                raise ObjectError(f"service {key} does not exist")
            ref_ = target_group.BackendRef(ingress=ing, service=service, port_number=number, port_name=name)
            rid, res = target_group.build(
                config=self.config,
                group=self.group,
                ref=ref_,
                service=svc,
                dualstack=self.dualstack,
                traffic_from=self.traffic_from,
                class_tags=settings.params_tags,
                class_target_type=settings.params_target_type,
            )
            out.target_groups[rid] = res
            return {"TargetGroupArn": ref(rid)}

        tolerate = self.config.tolerate_missing_action
        by_name = self.discovery.target_group_arns.get
        for path in rules.ordered_paths(ing):
            backend = self.services.get(f"{ing.namespace}/{path.backend.service}")
            own = (
                backend.annotations if backend is not None and path.backend.port_name != rules.USE_ANNOTATION else None
            )
            out.rules.append(
                (
                    rules.conditions(ing, path),
                    [rules.action(ing, path, forward, tolerate_missing_action=tolerate, by_name=by_name)],
                    rules.authentication(ing, path, own),
                    rules.transforms(ing, path),
                )
            )
        if ing.default_backend is not None:
            default = Path(host=None, path="", path_type="ImplementationSpecific", backend=ing.default_backend)
            out.default_action = rules.action(ing, default, forward, tolerate_missing_action=tolerate, by_name=by_name)
        return out


def _tags_list(config: ControllerConfig, group: GroupID, rid: str, tags: Mapping[str, str]) -> list[dict[str, str]]:
    return lb.tag_list({**tags, **names.stack_tags(cluster=config.cluster, group=group, resource_id=rid)})


def _frontend_nlb(
    *,
    config: ControllerConfig,
    group: GroupID,
    members: Sequence[_Member],
    alb: Resource,
    discovery: Discovery,
    alb_groups: list[Any],
) -> dict[str, Resource]:
    """The frontend NLB's resources when the members ask for one (ADR 0012): its subnets
    and security groups the annotation's, else the ALB's."""
    read = [m.settings.frontend_nlb for m in members]
    if not frontend_nlb.enabled(read):
        return {}
    scheme = frontend_nlb.scheme(read, config.default_scheme)
    wanted_subnets = frontend_nlb.subnets(read)
    wanted_groups = frontend_nlb.security_groups(read)
    return frontend_nlb.resources(
        config=config,
        group=group,
        alb=alb,
        scheme=scheme,
        subnet_ids=(
            lb.subnets(wanted=wanted_subnets, tags=None, discovery=discovery, scheme=scheme, config=config)
            if wanted_subnets
            else list(alb.properties["Subnets"])
        ),
        groups=lb.security_groups(wanted=wanted_groups, discovery=discovery, config=config)
        if wanted_groups
        else alb_groups,
        listeners=frontend_nlb.ports(
            [(m.settings.frontend_nlb, [port for _, port in m.settings.listen_ports]) for m in members]
        ),
    )


def build(
    *,
    config: ControllerConfig,
    group: GroupID,
    ingresses: Sequence[Ingress],
    services: Mapping[str, Service],
    discovery: Discovery,
    params: Mapping[str, IngressClassParams] | None = None,
    namespaces: Mapping[str, Mapping[str, str]] | None = None,
    unreadable: Mapping[str, str] | None = None,
) -> BuildResult:
    """The desired stack for the live members of one group, plus per-member errors.
    ``params`` are the IngressClassParams by name; ``namespaces`` the labels of each
    namespace, when known (for IngressClassParams namespace selectors); ``unreadable``
    says why a Service (``namespace/name``) or an IngressClassParams (name) that exists
    cannot be read, so a member naming it says so rather than that it is missing."""
    try:
        return _build(
            config=config,
            group=group,
            ingresses=ingresses,
            services=services,
            discovery=discovery,
            params=params or {},
            namespaces=namespaces,
            unreadable=unreadable or {},
        )
    except Exception as e:  # noqa: BLE001  # the last line of defence: a result, never a raise (module docstring)
        return BuildResult(stack=None, errors=tuple(MemberError.of(i.key, e) for i in ingresses))


def _build(
    *,
    config: ControllerConfig,
    group: GroupID,
    ingresses: Sequence[Ingress],
    services: Mapping[str, Service],
    discovery: Discovery,
    params: Mapping[str, IngressClassParams],
    namespaces: Mapping[str, Mapping[str, str]] | None,
    unreadable: Mapping[str, str],
) -> BuildResult:
    errors: list[MemberError] = []
    settings: list[MemberSettings] = []
    for ing in ingresses:
        try:
            found = None
            if ing.class_params is not None:
                found = params.get(ing.class_params)
                if found is None and ing.class_params in unreadable:
                    raise ObjectError(
                        f"invalid ingress class: ingressclassparams.elbv2.k8s.aws {ing.class_params} cannot be read: "
                        f"{unreadable[ing.class_params]}"
                    )
                if found is None:
                    raise ObjectError(
                        f'invalid ingress class: ingressclassparams.elbv2.k8s.aws "{ing.class_params}" not found'
                    )
            # An IngressClassParams group or name replaces the annotation's, which LBC then ignores.
            member = read_member(
                ing,
                config,
                check_group=found is None or found.group is None,
                check_name=found is None or found.load_balancer_name is None,
            )
            if found is not None:
                labels = (namespaces or {}).get(ing.namespace) if namespaces is not None else None
                member = apply_params(member, found, labels)
                lb.check_params_subnets(found, discovery, config)
            settings.append(certificates.discover(member, discovery))
        except Exception as e:  # noqa: BLE001  # one member's defect is that member's error (module docstring)
            errors.append(MemberError.of(ing.key, e))
    settings.sort(key=lambda m: member_sort_key(m.order, m.ingress.namespace, m.ingress.name))

    def fail_all(reason: str, keys: Sequence[str]) -> BuildResult:
        return BuildResult(stack=None, errors=tuple(errors) + tuple(MemberError(k, reason) for k in keys))

    if not settings:
        return BuildResult(stack=None, errors=tuple(errors))
    try:
        scheme = exclusive(settings, "scheme", "scheme") or config.default_scheme
        ip_type = exclusive(settings, "ip_address_type", "IPAddressType") or "ipv4"
        name = exclusive(settings, "load_balancer_name", "load balancer name")
        wanted_subnets = exclusive(settings, "subnets", "subnets", same=lambda v: sorted(v))
        subnet_tags = exclusive(settings, "subnet_tags", "IngressClassParams subnet specifications")
        if subnet_tags is not None and wanted_subnets is not None:
            raise GroupConflict("conflicting subnet specifications: IngressClassParams versus annotation")
        wanted_groups = exclusive(settings, "security_groups", "securityGroups")
        attributes = merged_attributes(settings)
        redirect = exclusive(settings, "ssl_redirect", "sslRedirect port")
        extras = {
            "WebACLArn": exclusive(settings, "web_acl_arn", "wafv2-acl-arn")
            or lb.web_acl_by_name(exclusive(settings, "web_acl_name", "wafv2-acl-name"), discovery),
            "WafAclId": exclusive(settings, "waf_acl_id", "waf-acl-id"),
            "ShieldProtection": exclusive(settings, "shield", "shield-advanced-protection"),
            "CustomerOwnedIpv4Pool": exclusive(settings, "customer_owned_pool", "CustomerOwnedIPv4Pool"),
            "MinimumLoadBalancerCapacity": exclusive(settings, "minimum_capacity", "minimum-load-balancer-capacity"),
            "IpamPools": exclusive(settings, "ipam_pool", "ipam-ipv4-pool-id"),
        }
        prefix_lists = exclusive(settings, "prefix_lists", "security-group-prefix-lists")
        manage_rules = exclusive(settings, "manage_backend_rules", "manage backend security group rules settings")
        tags = merged_tags(config, settings)
        traffic_from = lb.backend_traffic_source(
            config=config, discovery=discovery, custom_groups=bool(wanted_groups), manage=manage_rules
        )
    except ObjectError as e:
        return fail_all(str(e), [m.key for m in settings])
    context = _Context(
        config=config,
        group=group,
        services=services,
        unreadable=unreadable,
        dualstack=ip_type != "ipv4",
        traffic_from=traffic_from,
        discovery=discovery,
    )
    members: list[_Member] = []
    for m in settings:
        try:
            members.append(context.member(m))
        except Exception as e:  # noqa: BLE001  # one member's defect is that member's error (module docstring)
            errors.append(MemberError.of(m.key, e))
    built = [m.settings.key for m in members]
    if not members:
        return BuildResult(stack=None, errors=tuple(errors), service_refs=tuple(sorted(context.service_refs)))
    try:
        ports = listeners_.merge(
            [m.settings for m in members],
            default_ssl_policy=config.default_ssl_policy,
            ssl_redirect=redirect,
            default_backends={m.settings.key: m.default_action for m in members if m.default_action},
        )
        subnet_ids = lb.subnets(
            wanted=wanted_subnets, tags=subnet_tags, discovery=discovery, scheme=scheme, config=config, stack=str(group)
        )
        groups = lb.security_groups(
            wanted=wanted_groups,
            discovery=discovery,
            config=config,
            backend=traffic_from if wanted_groups and isinstance(traffic_from, str) else None,
        )
    except ObjectError as e:
        return fail_all(str(e), built)
    resources: dict[str, Resource] = {}
    for contribution in members:
        resources.update(contribution.target_groups)
    if not wanted_groups:
        resources[names.MANAGED_SG_ID] = lb.managed_security_group(
            config=config,
            group=group,
            listeners=ports,
            dualstack=ip_type != "ipv4",
            tags=tags,
            prefix_lists=prefix_lists,
        )
    resources[names.LOAD_BALANCER_ID] = lb.load_balancer(
        config=config,
        group=group,
        name=name,
        scheme=scheme,
        ip_address_type=ip_type,
        subnet_ids=subnet_ids,
        groups=groups,
        attributes=attributes,
        tags=tags,
        extras=extras,
    )
    try:
        resources.update(
            _frontend_nlb(
                config=config,
                group=group,
                members=members,
                alb=resources[names.LOAD_BALANCER_ID],
                discovery=discovery,
                alb_groups=groups,
            )
        )
    except ObjectError as e:
        return fail_all(str(e), built)
    by_key = {m.settings.key: m for m in members}
    for port, spec in sorted(ports.items()):
        lid = names.listener_id(port)
        props: dict[str, Any] = {
            "LoadBalancerArn": ref(names.LOAD_BALANCER_ID),
            "Port": port,
            "Protocol": spec.protocol,
            "DefaultActions": [spec.default_action],
            "Tags": _tags_list(config, group, lid, merged_tags(config, spec.members)),
        }
        if spec.protocol == "HTTPS":
            props["Certificates"] = [{"CertificateArn": arn} for arn in spec.certificates]
            props["SslPolicy"] = spec.ssl_policy
        if spec.mutual_auth:
            props["MutualAuthentication"] = dict(spec.mutual_auth)
        if spec.attributes:
            props["Attributes"] = [{"Key": k, "Value": v} for k, v in spec.attributes]
        resources[lid] = Resource(type=LISTENER, properties=props)
        if redirect is not None and spec.protocol == "HTTP":
            continue  # LBC: an SSL-redirected HTTP listener has only its redirect
        ordered = [(m, r) for m in spec.members for r in by_key[m.key].rules]
        kept = optimizer.optimize([r for _, r in ordered], port=port, protocol=spec.protocol)
        for priority, (settings_, (conditions, actions, auth, rewrites)) in enumerate(
            (pair for pair in ordered if any(pair[1] is k for k in kept)), start=1
        ):
            rid = names.rule_id(port, priority)
            if auth is not None and spec.protocol == "HTTPS":  # LBC authenticates on HTTPS only
                actions = [{**auth, "Order": 1}, *({**a, "Order": i + 2} for i, a in enumerate(actions))]
            rule: dict[str, Any] = {
                "ListenerArn": ref(lid),
                "Priority": priority,
                "Conditions": conditions,
                "Actions": actions,
                # LBC: a rule carries its own Ingress's tags (over which the IngressClassParams
                # tags already went), under the controller's default tags.
                "Tags": _tags_list(config, group, rid, {**settings_.tags, **config.default_tags}),
            }
            if rewrites:
                rule["Transforms"] = rewrites
            resources[rid] = Resource(type=LISTENER_RULE, properties=rule)
    return BuildResult(
        stack=Stack(stack_id=str(group), resources=resources),
        errors=tuple(errors),
        members=tuple(built),
        service_refs=tuple(sorted(context.service_refs)),
    )
