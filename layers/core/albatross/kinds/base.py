"""What every resource kind is (ADR 0011): the :class:`Kind` interface with its common
behaviour, the :class:`Aws` gateway a kind's calls go through, and the shapes the plan
and the kinds share (an actual resource, a step, references and tags).

Pure: no boto3 here or in any kind module. The gateway is handed in by
``albatross.aws.gateway``, so the planner (pure) imports the kinds, and the applier and
discovery drive them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from albatross.model.names import TAG_RESOURCE
from albatross.model.stack import Resource, ref_target

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client

Props = Mapping[str, Any]


@dataclass(frozen=True)
class ActualResource:
    id: str
    type: str
    physical_id: str
    properties: Mapping[str, Any]


Op = Literal["create", "update", "delete", "reorder"]


@dataclass(frozen=True)
class Step:
    op: Op
    type: str
    id: str
    desired: Resource | None = None
    actual: ActualResource | None = None
    # A delete because the whole group is gone (not a replacement): what the applier's
    # deletion protection guard says when it refuses (albatross.plan.protection decides).
    group_deleted: bool = False
    previous: Resource | None = None  # what the previous model wanted (for tags to remove)

    def describe(self) -> str:
        return f"{self.op} {self.type.rsplit('::', 1)[-1]} {self.id}"


class Aws(Protocol):
    """The AWS a kind's calls go through: the shared clients, the one error classifier
    (``classified`` turns an SDK error into Albatross's classes, of which a kind catches
    or raises the three named here) and the load balancer settings behind other APIs
    (``apply_protection`` with ``current`` None: a load balancer just created, which has
    none of them)."""

    NotFound: type[Exception]
    PriorityInUse: type[Exception]
    UserError: type[Exception]

    def elbv2(self) -> ElasticLoadBalancingv2Client: ...
    def ec2(self) -> EC2Client: ...
    def classified(self) -> AbstractContextManager[None]: ...
    def read_protection(self, arn: str, keys: Sequence[str]) -> dict[str, Any]: ...
    def apply_protection(self, arn: str, desired: Props, current: Props | None) -> None: ...


def resolve(value: Any, physical: Mapping[str, str]) -> Any:
    """Replace ``{"$ref": id}`` with the physical id (or leave the ref when unknown)."""
    target = ref_target(value)
    if target is not None:
        return physical.get(target, value)
    if isinstance(value, Mapping):
        return {k: resolve(v, physical) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, physical) for v in value]
    return value


def natural(rid: str) -> tuple[Any, ...]:
    """Sort ``80:10`` after ``80:9``: numbers compare as numbers."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in rid.replace(":", " ").split())


def _attributes(props: Props) -> dict[str, str]:
    return {str(a["Key"]): str(a["Value"]) for a in props.get("Attributes") or ()}


def attributes_differ(desired: Props, actual: Props) -> bool:
    """Only the attributes the model sets count; AWS reports every attribute."""
    have = _attributes(actual)
    return any(have.get(k) != v for k, v in _attributes(desired).items())


def tag_dict(tags: Any) -> dict[str, str]:
    return {str(t["Key"]): str(t.get("Value", "")) for t in tags or ()}


def tag_changes(desired: Props, actual: Props, previous: Props | None = None) -> tuple[dict[str, str], list[str]]:
    """Tags to set (missing or different) and keys to remove: those the previous model set
    and this one does not. A tag someone else added is never removed. No change when the
    actual tags were not read. The resource-id tag of a rule names the priority it was
    created at; rules keep no identity (a moved rule keeps its tag), so only a missing
    one is set."""
    if "Tags" not in actual:
        return {}, []
    want = tag_dict(desired.get("Tags"))
    have = tag_dict(actual.get("Tags"))
    before = {str(t["Key"]) for t in (previous or {}).get("Tags") or ()}
    put = {k: v for k, v in want.items() if have.get(k) != v and not (k == TAG_RESOURCE and k in have)}
    return put, sorted(k for k in before - set(want) if k in have)


def _props_of(resource: Resource | None) -> Props | None:
    return resource.properties if resource is not None else None


class Kind:
    """One kind of stack resource. A subclass sets the class attributes and overrides
    what its kind does differently; the defaults are an ELBv2 resource without a parent,
    read by its physical id, compared on its mutable view and attributes."""

    type: ClassVar[str]
    # How its physical id is told apart from other kinds' (a part of its ARN).
    marker: ClassVar[str]
    # The Resource Groups Tagging API's type filter, for kinds found by tags (no parent).
    tag_filter: ClassVar[str | None] = None
    # The kind it hangs under, and its property naming the parent's physical id: it
    # pairs only under the paired parent, and goes with a deleted parent at no call.
    parent_type: ClassVar[str | None] = None
    parent_property: ClassVar[str | None] = None
    # Deleting its parent deletes it (no call of its own): listeners with their load
    # balancer, rules with their listener.
    goes_with_parent: ClassVar[bool] = True
    # Others refer to it by its resource id (``{"$ref": id}``).
    referable: ClassVar[bool] = True
    # A name unique per account (per VPC) that a create can find already taken.
    adopts_by_name: ClassVar[bool] = False
    # The stack index keeps its physical id (read by id next time, no tag search).
    indexed: ClassVar[bool] = False
    # Indexed, but not read with the index: known to exist while a resource read with it
    # names it (a security group its load balancer uses); ``complete`` reads it if needed.
    known_while_used: ClassVar[bool] = False
    # Its tags are read with ELBv2's DescribeTags (else they come with its description).
    elbv2_tags: ClassVar[bool] = True

    @property
    def name(self) -> str:
        return self.type.rsplit("::", 1)[-1]

    # --- identity and comparison (pure) ---

    def identity(self, props: Props) -> Any:
        """The property whose change cannot be made in place: a different value means replace."""
        raise NotImplementedError

    def mutable_view(self, props: Props) -> dict[str, Any]:
        """The properties that an update call can change, in comparable form."""
        raise NotImplementedError

    def differs(self, desired: Props, actual: Props) -> bool:
        return self.mutable_view(desired) != self.mutable_view(actual) or attributes_differ(desired, actual)

    def owns(self, physical_id: str) -> bool:
        return self.marker in physical_id

    def physical_id_of(self, arn: str) -> str:
        """The physical id of a resource of this kind by its ARN (the tag search's)."""
        return arn

    def parent_id(self, rid: str) -> str | None:
        """The resource id of the parent a resource of this id hangs under."""
        return None

    # --- planning (pure) ---

    def under(self, res: ActualResource, paired: Mapping[str, ActualResource]) -> bool:
        """Whether an actual resource hangs under its paired parent, when discovery says
        where it hangs: while a load balancer is replaced, the old one's listeners and
        rules carry the same ids as the new one's."""
        if self.parent_property is None:
            return True
        arn = res.properties.get(self.parent_property)
        rid = self.parent_id(res.id)
        parent = paired.get(rid) if rid is not None else None
        return arn is None or parent is None or arn == parent.physical_id

    def pairs(self, res: ActualResource, want: Resource | None, paired: Mapping[str, ActualResource]) -> bool:
        """Whether ``res`` is the desired resource ``want`` of the same id: same kind and
        identity, under its paired parent."""
        parents = [ref_target(want.properties.get(self.parent_property))] if want and self.parent_property else []
        return (
            want is not None
            and want.type == res.type
            and res.id not in paired
            and self.identity(want.properties) == self.identity(res.properties)
            and all(parent in paired for parent in parents if parent)
            and self.under(res, paired)
        )

    def plan(
        self,
        *,
        wanted: Mapping[str, Resource],
        actual: Sequence[ActualResource],
        paired: Mapping[str, ActualResource],
        physical: Mapping[str, str],
        before: Mapping[str, Resource],
    ) -> tuple[list[Step], list[ActualResource]]:
        """The creates and updates of this kind, and the actual resources to delete
        beyond the unpaired ones: a desired resource without a pair is created, a pair
        that differs (or whose tags do) updated."""
        steps: list[Step] = []
        for rid in sorted(wanted, key=natural):
            want = wanted[rid]
            if want.type != self.type:
                continue
            have = paired.get(rid)
            if have is None:
                steps.append(Step(op="create", type=self.type, id=rid, desired=want))
                continue
            resolved = resolve(want.properties, physical)
            if self.differs(resolved, have.properties) or any(
                tag_changes(want.properties, have.properties, _props_of(before.get(rid)))
            ):
                steps.append(
                    Step(op="update", type=self.type, id=rid, desired=want, actual=have, previous=before.get(rid))
                )
        return steps, []

    # --- discovery ---

    def describe(self, aws: Aws, ids: Mapping[str, str]) -> list[ActualResource]:
        """Resources of this kind by physical id (physical id → resource id), one call;
        the caller classifies errors (a gone one fails the call whole)."""
        raise NotImplementedError(self.type)

    def list_under(self, aws: Aws, parent: ActualResource) -> list[ActualResource]:
        """Every resource of this kind under ``parent``."""
        raise NotImplementedError(self.type)

    def read_under(self, aws: Aws, physical_id: str, parent: ActualResource) -> list[ActualResource]:
        """One resource of this kind under ``parent`` by its physical id."""
        raise NotImplementedError(self.type)

    def read_attributes(self, aws: Aws, physical_id: str) -> list[Any]:
        raise NotImplementedError(self.type)

    def complete(
        self, aws: Aws, res: ActualResource, props: dict[str, Any], mine: Resource | None, trusted: bool
    ) -> dict[str, Any] | None:
        """``props`` with what the plan compares beyond the first read (None: the
        resource is gone). ``mine``: its desired form; ``trusted``: that form is what was
        last applied, so it is taken as what AWS holds (no read). This default adds the
        attributes the model sets."""
        if mine is not None and mine.properties.get("Attributes"):
            props["Attributes"] = (
                list(mine.properties["Attributes"]) if trusted else self.read_attributes(aws, res.physical_id)
            )
        return props

    # --- calls ---

    def named(self, aws: Aws, props: Props) -> tuple[str, dict[str, str]] | None:
        """The resource that already carries this name, with its tags, if any."""
        return None

    def create(self, aws: Aws, props: dict[str, Any]) -> str:
        raise NotImplementedError(self.type)

    def update(self, aws: Aws, physical_id: str, props: dict[str, Any], current: Props) -> None:
        raise NotImplementedError(self.type)

    def delete(self, aws: Aws, step: Step) -> None:
        raise NotImplementedError(self.type)

    def reorder(self, aws: Aws, step: Step) -> None:
        raise NotImplementedError(self.type)

    def set_tags(self, aws: Aws, physical_id: str, put: Mapping[str, str], remove: list[str]) -> None:
        elbv2 = aws.elbv2()
        if put:
            elbv2.add_tags(ResourceArns=[physical_id], Tags=[{"Key": k, "Value": v} for k, v in sorted(put.items())])
        if remove:
            elbv2.remove_tags(ResourceArns=[physical_id], TagKeys=remove)


def elbv2_named(aws: Aws, find: Callable[[], str]) -> tuple[str, dict[str, str]] | None:
    """An ELBv2 resource by name (``find`` returns its ARN; not found: None), with its tags."""
    try:
        with aws.classified():
            arn = find()
    except aws.NotFound:
        return None
    with aws.classified():
        return arn, tag_dict(aws.elbv2().describe_tags(ResourceArns=[arn])["TagDescriptions"][0].get("Tags"))
