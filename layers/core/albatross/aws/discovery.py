"""Find what exists: a stack's resources by ownership tags only, and the subnets facts
the model needs.

A stack is found with one Resource Groups Tagging API query on the cluster and stack
tags; listeners and rules are read under the stack's load balancer. Resources without
our tags are never returned, so they are never modified or deleted. Tags are not proof
of ownership, though: anyone can copy them onto a load balancer. Every load balancer
tagged for the stack is returned, and one the group has no record of making or adopting
is set aside before planning (:func:`albatross.plan.planner.set_aside`).

That API is eventually consistent: a resource made seconds ago may not be listed yet,
and one just deleted may still be. So the caller also names what Albatross made for the
stack (``recorded``: physical id → resource id, kept in the state store from the moment
each create call answered), and :func:`locate` reads those the search does not list by
id. Whatever is gone, listed or recorded, is left out, never an error. When the search
lists everything recorded, the records cost no call.

After a successful apply the group keeps a :class:`~albatross.plan.actual.StackIndex`:
:func:`find_indexed` reads the load balancer and target groups by ARN (no tag search),
and :func:`complete` reads the properties that cost a call of their own (security group
rules, attributes, SNI certificates) only for resources whose desired form changed since
they were applied. A reconcile with nothing to do thus reads the load balancer, its
listeners, each listener's rules and the target groups: listeners + 3 calls. Anything the
index names that is gone sends the caller back to the tag search.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar, overload

from albatross.aws import clients, networking
from albatross.aws.errors import NotFound, aws_errors
from albatross.aws.gateway import AWS
from albatross.kinds import KINDS, children_of, kind_of, load_balancer, roots
from albatross.kinds.base import Kind
from albatross.model.discovery import Discovery
from albatross.model.names import LEGACY_TAG_CLUSTER, LOAD_BALANCER_ID, TAG_CLUSTER, TAG_RESOURCE, TAG_STACK, owned_by
from albatross.model.stack import LOAD_BALANCER, Stack
from albatross.plan.actual import Actual, ActualResource, StackIndex

T = TypeVar("T")

_TYPE_FILTERS = [k.tag_filter for k in roots() if k.tag_filter is not None]


def _tags(items: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in items}


def stack_arns(*, cluster: str, stack_id: str) -> dict[str, str]:
    """ARN → resource id of every resource tagged for the stack: one query on the stack
    tag, kept when the cluster tag (current or legacy key) names this cluster."""
    return {arn: rid for arn, (rid, _) in _tagged(cluster=cluster, stack_id=stack_id).items()}


def stacks(*, cluster: str) -> set[str]:
    """Every stack with a load balancer, target group or security group tagged for this
    cluster (current or legacy cluster tag)."""
    out: set[str] = set()
    for key in (TAG_CLUSTER, LEGACY_TAG_CLUSTER):
        for _, tags in _tagged_with(key, cluster):
            if tags.get(TAG_STACK):
                out.add(tags[TAG_STACK])
    return out


def load_balancers(*, cluster: str) -> dict[str, dict[str, str]]:
    """ARN → tags of every load balancer tagged for this cluster (current or legacy
    cluster tag), whoever made it: Albatross, or LBC before it."""
    out: dict[str, dict[str, str]] = {}
    for key in (TAG_CLUSTER, LEGACY_TAG_CLUSTER):
        for arn, tags in _tagged_with(key, cluster):
            if load_balancer.KIND.owns(arn):
                out[arn] = tags
    return out


def _tagged_with(key: str, value: str) -> Iterator[tuple[str, dict[str, str]]]:
    """(ARN, tags) of every load balancer, target group and security group tagged
    ``key=value`` (one paginated Resource Groups Tagging API query)."""
    with aws_errors():
        pages = (
            clients.tagging()
            .get_paginator("get_resources")
            .paginate(TagFilters=[{"Key": key, "Values": [value]}], ResourceTypeFilters=_TYPE_FILTERS)
        )
        for page in pages:
            for item in page.get("ResourceTagMappingList", []):
                yield str(item["ResourceARN"]), _tags(item.get("Tags", []))


def _tagged(*, cluster: str, stack_id: str) -> dict[str, tuple[str, list[dict[str, str]]]]:
    """ARN → (resource id, tags) of the stack's tagged resources."""
    out: dict[str, tuple[str, list[dict[str, str]]]] = {}
    for arn, tags in _tagged_with(TAG_STACK, stack_id):
        if TAG_RESOURCE in tags and owned_by(tags, cluster=cluster, stack=stack_id):
            out[arn] = (tags[TAG_RESOURCE], [{"Key": k, "Value": v} for k, v in tags.items()])
    return out


def _with_children(found: list[ActualResource]) -> list[ActualResource]:
    """``found``, each followed by what hangs under it (listeners under a load balancer,
    rules under a listener), listed by its parent."""
    out: list[ActualResource] = []
    for res in found:
        out.append(res)
        for child in children_of(res.type):
            with aws_errors():
                listed = child.list_under(AWS, res)
            out += _with_children(listed)
    return out


def _read(kind: Kind, ids: Mapping[str, str]) -> list[ActualResource]:
    """Resources of a kind found by tags, by physical id (→ resource id), in one call,
    with what hangs under them."""
    if not ids:
        return []
    with aws_errors():
        found = kind.describe(AWS, ids)
    return _with_children(found)


def complete(actual: Actual, desired: Stack | None, applied: Mapping[str, str] | None = None) -> Actual:
    """``actual`` with what the plan compares beyond the first read (each kind's
    :meth:`~albatross.kinds.base.Kind.complete`: security group rules when not read yet,
    the attributes the model sets, the certificates of HTTPS listeners, the web ACL,
    Shield and capacity settings the model states), and tags. A resource whose desired
    form has the digest recorded in ``applied`` (the stack index) is taken to hold it
    still; anything else is read."""
    wanted = desired.resources if desired else {}
    applied = applied or {}
    out: list[ActualResource] = []
    untagged: list[int] = []  # positions in ``out`` whose tags are to be read
    for res in actual.resources:
        kind = kind_of(res.type)
        want = wanted.get(res.id)
        mine = want if want is not None and want.type == res.type else None
        trusted = mine is not None and applied.get(res.id) == mine.digest()
        props = kind.complete(AWS, res, dict(res.properties), mine, trusted)
        if props is None:  # gone since the first read
            continue
        if mine is not None and "Tags" not in props:
            if trusted:
                props["Tags"] = list(mine.properties.get("Tags") or [])
            elif kind.elbv2_tags:
                untagged.append(len(out))
        out.append(ActualResource(id=res.id, type=res.type, physical_id=res.physical_id, properties=props))
    read = _elb_tags([out[i].physical_id for i in untagged])
    for i in untagged:
        out[i] = _with(out[i], Tags=read.get(out[i].physical_id, []))
    return Actual(resources=tuple(out))


def _elb_tags(arns: list[str]) -> dict[str, list[dict[str, str]]]:
    """Tags of ELBv2 resources, 20 ARNs per DescribeTags."""
    out: dict[str, list[dict[str, str]]] = {}
    with aws_errors():
        for i in range(0, len(arns), 20):
            for item in clients.elbv2().describe_tags(ResourceArns=arns[i : i + 20])["TagDescriptions"]:
                out[item["ResourceArn"]] = [
                    {"Key": t["Key"], "Value": t.get("Value", "")} for t in item.get("Tags", [])
                ]
    return out


def _named_in(resources: list[ActualResource]) -> set[str]:
    """The strings that resources' properties hold, alone or in a list (the security
    groups a load balancer uses, among others)."""
    out: set[str] = set()
    for res in resources:
        for value in res.properties.values():
            out |= {v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)}
    return out


def find_indexed(index: StackIndex) -> Actual | None:
    """The stack by the physical ids the index holds; None when any of them is gone (the
    caller then searches by tags). A kind known while used (security groups) gets
    placeholders for :func:`complete`, known to exist because what was read (the load
    balancer) still uses them."""
    ids = {k.type: {pid: rid for rid, pid in index.ids.items() if k.owns(pid)} for k in roots() if k.indexed}
    read = [k for k in roots() if k.indexed and not k.known_while_used]
    try:
        resources = [r for k in read for r in _read(k, ids[k.type])]
    except NotFound:
        return None
    found = {r.physical_id for r in resources if r.type in ids}
    if found != {pid for k in read for pid in ids[k.type]}:
        return None
    placeholders = [(k, pid, rid) for k in roots() if k.known_while_used for pid, rid in ids.get(k.type, {}).items()]
    if not {pid for _, pid, _ in placeholders} <= _named_in(resources):
        return None
    resources += [ActualResource(id=rid, type=k.type, physical_id=pid, properties={}) for k, pid, rid in placeholders]
    return Actual(resources=tuple(resources))


def index_of(desired: Stack | None, physical: Mapping[str, str]) -> StackIndex | None:
    """The index after a successful apply: every desired resource of an indexed kind (load
    balancer, target group, security group) with its physical id, and every desired
    resource's digest. None when something is missing."""
    if desired is None:
        return None
    kept = {k.type for k in KINDS if k.indexed}
    ids = {rid: physical.get(rid, "") for rid, r in desired.resources.items() if r.type in kept}
    if not all(ids.values()):
        return None
    return StackIndex(ids=ids, applied={rid: r.digest() for rid, r in desired.resources.items()})


class OnDemand(Sequence[Mapping[str, Any]]):
    """A fact list read the first time the builder looks at it (the model stays pure: it
    sees a sequence)."""

    def __init__(self, load: Callable[[], Sequence[Mapping[str, Any]]]) -> None:
        self._load = load
        self._items: tuple[Mapping[str, Any], ...] | None = None

    def _get(self) -> tuple[Mapping[str, Any], ...]:
        if self._items is None:
            self._items = tuple(self._load())
        return self._items

    @overload
    def __getitem__(self, i: int) -> Mapping[str, Any]: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Mapping[str, Any]]: ...
    def __getitem__(self, i: int | slice) -> Mapping[str, Any] | Sequence[Mapping[str, Any]]:
        return self._get()[i]

    def __len__(self) -> int:
        return len(self._get())

    def __iter__(self) -> Iterator[Mapping[str, Any]]:
        return iter(self._get())


class TargetGroupArns(Mapping[str, str]):
    """Target group ARNs by name, each asked for (DescribeTargetGroups by name, as LBC
    resolves an ``actions.*`` targetGroupName) the first time the builder looks it up;
    a name no target group has is absent. Only the names asked for are known: iterating
    gives those found so far."""

    def __init__(self) -> None:
        self._found: dict[str, str | None] = {}

    def _lookup(self, name: str) -> str | None:
        if name not in self._found:
            try:
                with aws_errors():
                    groups = clients.elbv2().describe_target_groups(Names=[name])["TargetGroups"]
            except NotFound:  # TargetGroupNotFound
                groups = []
            self._found[name] = str(groups[0]["TargetGroupArn"]) if groups else None
        return self._found[name]

    def __getitem__(self, name: str) -> str:
        found = self._lookup(name)
        if found is None:
            raise KeyError(name)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter([name for name, arn in self._found.items() if arn is not None])

    def __len__(self) -> int:
        return sum(1 for arn in self._found.values() if arn is not None)


def existing_load_balancers(actual: Actual, stack_id: str) -> tuple[dict[str, Any], ...]:
    """The stack's ALB in the shape the model's discovery facts use (a frontend NLB's
    subnets are not the ALB's to keep)."""
    return tuple(
        {
            "stack": stack_id,
            "LoadBalancer": {
                "Scheme": r.properties.get("Scheme"),
                "AvailabilityZones": [{"SubnetId": sid} for sid in r.properties.get("Subnets") or ()],
            },
        }
        for r in actual.of_type(LOAD_BALANCER)
        if r.id == LOAD_BALANCER_ID
    )


def each(read: Callable[[dict[str, str]], list[T]], ids: Mapping[str, str]) -> list[T]:
    """``read`` of all of ``ids`` (physical id → resource id) in one call; when one of
    them is gone (the call fails whole, :class:`~albatross.aws.errors.NotFound`), one
    call each, leaving out the gone ones."""
    if not ids:
        return []
    try:
        return read(dict(ids))
    except NotFound:
        if len(ids) == 1:
            return []
    out: list[T] = []
    for one, rid in ids.items():
        try:
            out += read({one: rid})
        except NotFound:
            continue
    return out


def _described(kind: Kind, ids: Mapping[str, str]) -> list[ActualResource]:
    with aws_errors():
        return kind.describe(AWS, ids)


def describe(kind: Kind, ids: Mapping[str, str]) -> list[ActualResource]:
    """Resources of a parentless kind by physical id (→ resource id), as its describe
    call gives them, nothing under them; the gone ones left out (:func:`each`)."""
    return each(partial(_described, kind), ids)


def parent_of(arn: str) -> str:
    """The load balancer of a listener ARN, the listener of a rule ARN ("" otherwise):
    their ARNs extend their parent's by one path segment."""
    for kind in KINDS:
        if kind.parent_type is not None and kind.owns(arn):
            return arn.rsplit("/", 1)[0].replace(kind.marker, kind_of(kind.parent_type).marker, 1)
    return ""


def _read_under(kind: Kind, ids: Sequence[str], parents: Mapping[str, ActualResource]) -> list[ActualResource]:
    """Resources of a kind with a parent by physical id, one call each, under parents
    already read, with what hangs under them; the gone ones left out."""
    out: list[ActualResource] = []
    for pid in ids:
        try:
            with aws_errors():
                found = kind.read_under(AWS, pid, parents[parent_of(pid)])
        except NotFound:
            continue
        out += _with_children(found)
    return out


@dataclass(frozen=True)
class Found:
    """A stack as found: its resources, and which of them were found only because they
    were recorded (read by id: the tag search, or their parent's listing, did not show
    them)."""

    actual: Actual
    by_id: frozenset[str]


def locate(*, cluster: str, stack_id: str, recorded: Mapping[str, str] | None = None) -> Found:
    """The stack's resources by tags, and those in ``recorded`` (physical id → resource
    id: what Albatross made for it) that the search does not list yet, read by id; a
    recorded one that is gone is left out."""
    tagged = _tagged(cluster=cluster, stack_id=stack_id)
    listed = {_physical_id(arn): rid for arn, (rid, _) in tagged.items()}
    unlisted = {p: r for p, r in (recorded or {}).items() if p not in listed}

    def of(ids: Mapping[str, str], kind: Kind) -> dict[str, str]:
        return {i: r for i, r in ids.items() if kind.owns(i)}

    # What the search listed is read in one call per kind, what it did not in another
    # (made seconds ago: a call only while the search lags), so one recorded resource
    # gone since costs no extra call per listed one.
    resources: list[ActualResource] = []
    for kind in roots():
        resources += each(partial(_read, kind), of(listed, kind))
    direct: list[ActualResource] = []  # read by id; what hangs under them is listed with them
    for kind in roots():
        found = each(partial(_read, kind), of(unlisted, kind))
        resources += found
        direct += [r for r in found if r.type == kind.type]
    # A recorded listener or rule that its parent's listing did not show is asked for by
    # ARN, only when the parent was found (gone with it otherwise).
    for kind in KINDS:
        if kind.parent_type is None:
            continue
        seen = {r.physical_id for r in resources}
        parents = {r.physical_id: r for r in resources if r.type == kind.parent_type}
        more = _read_under(
            kind, sorted(p for p in of(unlisted, kind) if p not in seen and parent_of(p) in parents), parents
        )
        resources += more
        direct += [r for r in more if r.type == kind.type]
    tags = {_physical_id(arn): t for arn, (_, t) in tagged.items()}
    return Found(
        actual=Actual(
            resources=tuple(_with(r, Tags=tags[r.physical_id]) if r.physical_id in tags else r for r in resources)
        ),
        by_id=frozenset(r.physical_id for r in direct if r.physical_id in unlisted),
    )


def _physical_id(arn: str) -> str:
    """A tagged resource's physical id by the ARN the tag search gives (a security
    group's is its id, the others' their ARN)."""
    for kind in roots():
        found = kind.physical_id_of(arn)
        if found != arn and kind.owns(found):
            return found
    return arn


def find_stack(*, cluster: str, stack_id: str, recorded: Mapping[str, str] | None = None) -> Actual:
    """The stack's resources (:func:`locate`); :func:`complete` adds what the plan
    compares beyond this read."""
    return locate(cluster=cluster, stack_id=stack_id, recorded=recorded).actual


def _with(res: ActualResource, **props: Any) -> ActualResource:
    return ActualResource(id=res.id, type=res.type, physical_id=res.physical_id, properties={**res.properties, **props})


def read_stack(
    *, cluster: str, stack_id: str, desired: Stack | None, recorded: Mapping[str, str] | None = None
) -> Actual:
    """Everything the plan compares, read afresh (no index): what the state machines'
    phases, ``albatross plan`` and the drift sweep use."""
    return complete(find_stack(cluster=cluster, stack_id=stack_id, recorded=recorded), desired)


# DescribeLoadBalancers' and DescribeTargetGroups' PageSize: "Valid Range: Minimum value of
# 1. Maximum value of 400." (ELBv2 API reference)
BULK_PAGE = 400


@dataclass(frozen=True)
class Account:
    """What the drift sweep's bulk reads see of every load balancer and target group of
    the account (Region): each load balancer's state and security groups, each target
    group's load balancers; and how many calls that took."""

    load_balancers: Mapping[str, tuple[str, frozenset[str]]]  # ARN → (state code, security groups)
    target_groups: Mapping[str, frozenset[str]]  # ARN → the load balancers forwarding to it
    calls: int


def _pages(action: str, key: str) -> tuple[list[Mapping[str, Any]], int]:
    """Every item of an ELBv2 Describe* with no names, in pages of :data:`BULK_PAGE`;
    and the number of calls."""
    call = getattr(clients.elbv2(), action)
    out: list[Mapping[str, Any]] = []
    calls, marker = 0, ""
    with aws_errors():
        while True:
            page = call(PageSize=BULK_PAGE, **({"Marker": marker} if marker else {}))
            calls += 1
            out += page.get(key, [])
            marker = page.get("NextMarker") or ""
            if not marker:
                return out, calls


def account() -> Account:
    """Every load balancer and target group of the account, in bulk (a call per 400 of
    each): for the drift sweep's comparison with the stack indexes."""
    lbs, lb_calls = _pages("describe_load_balancers", "LoadBalancers")
    tgs, tg_calls = _pages("describe_target_groups", "TargetGroups")
    return Account(
        load_balancers={
            str(lb["LoadBalancerArn"]): (
                str((lb.get("State") or {}).get("Code", "")),
                frozenset(str(g) for g in lb.get("SecurityGroups") or ()),
            )
            for lb in lbs
        },
        target_groups={
            str(tg["TargetGroupArn"]): frozenset(str(a) for a in tg.get("LoadBalancerArns") or ()) for tg in tgs
        },
        calls=lb_calls + tg_calls,
    )


def certificates() -> list[Mapping[str, Any]]:
    """Issued ACM certificates with their names, for discovery by host."""
    out: list[Mapping[str, Any]] = []
    acm = clients.acm()
    with aws_errors():
        for page in acm.get_paginator("list_certificates").paginate(CertificateStatuses=["ISSUED"]):
            for cert in page["CertificateSummaryList"]:
                names = list(cert.get("SubjectAlternativeNameSummaries") or [])
                if not names:
                    detail = acm.describe_certificate(CertificateArn=cert["CertificateArn"])["Certificate"]
                    names = list(detail.get("SubjectAlternativeNames") or [])
                out.append(
                    {
                        "CertificateArn": cert["CertificateArn"],
                        "DomainName": cert.get("DomainName", ""),
                        "SubjectAlternativeNames": names,
                        "Status": "ISSUED",
                    }
                )
    return out


def web_acls() -> list[Mapping[str, Any]]:
    """Regional WAFv2 web ACLs (name and ARN), for wafv2-acl-name."""
    out: list[Mapping[str, Any]] = []
    marker: str | None = None
    with aws_errors():
        while True:
            kwargs: dict[str, Any] = {"Scope": "REGIONAL", **({"NextMarker": marker} if marker else {})}
            page = clients.wafv2().list_web_acls(**kwargs)
            out += [{"Name": a["Name"], "ARN": a["ARN"]} for a in page.get("WebACLs", [])]
            marker = page.get("NextMarker")
            if not marker:
                return out


def discover(
    *, vpc_id: str, existing: tuple[dict[str, Any], ...] = (), cluster: str | None = None, create_backend: bool = False
) -> Discovery:
    """The facts the builder may need, each read the first time it looks: the subnets of
    the cluster's VPC (as DescribeSubnets returns them), the issued ACM certificates (for
    discovery by host), the regional WAFv2 web ACLs (for names) and target groups by name
    (for ``actions.*``). A live load balancer
    keeps its subnets and most Ingresses name their certificates, so most reconciles
    read none of them. With ``cluster``: the cluster's shared backend security group
    (:func:`albatross.aws.networking.backend_group`; made when absent with
    ``create_backend``), which a warm function knows without a call."""

    def subnets() -> list[Mapping[str, Any]]:
        out: list[Mapping[str, Any]] = []
        with aws_errors():
            pages = (
                clients.ec2()
                .get_paginator("describe_subnets")
                .paginate(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])
            )
            for page in pages:
                out.extend(dict(s) for s in page["Subnets"])
        return out

    backend = (  # a group with a load balancer has the shared group: a remembered id is trusted
        networking.backend_group(cluster=cluster, vpc_id=vpc_id, create=create_backend, trusted=bool(existing))
        if cluster is not None
        else None
    )
    return Discovery(
        backend_security_group_id=backend,
        subnets=OnDemand(subnets),
        certificates=OnDemand(certificates),
        existing_load_balancers=existing,
        web_acls=OnDemand(web_acls),
        target_group_arns=TargetGroupArns(),
    )
