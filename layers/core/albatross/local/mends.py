"""moto models mended in place where they differ from EC2 in ways the backend security
group rules depend on (moto runs in this process, see :mod:`albatross.local.cloud`).

* A network interface's ``addresses.private-ip-address`` filter matches its secondary
  addresses too, as in EC2 (moto matches the primary one only). A pod's address is a
  secondary address of its node's ENI.
* ``ipv6-addresses.ipv6-address`` is served (moto has no such filter).
* Either filter keeps every network interface that holds any of its values: EC2 joins a
  filter's values with OR (EC2 API reference, filtering). moto keeps one whose addresses
  are all among the values or that holds them all, so one call for the addresses of pods
  on several ENIs found none.
* A security group rule that names a source group reports its description in
  DescribeSecurityGroupRules (moto reports CIDR rules' descriptions only).
* ELBv2 rule conditions may hold ``RegexValues`` instead of ``Values`` (host-header,
  http-header, path-pattern), as ELBv2's ``RuleCondition`` allows: moto's checks read
  ``Values`` only (a KeyError); they now check the regular expressions in their place.
  moto already stores and returns them.
* DeleteLoadBalancer refuses a load balancer whose ``deletion_protection.enabled`` is
  ``true`` with ``OperationNotPermitted`` (HTTP 400), as the ELBv2 API reference says
  ("You can't delete a load balancer if deletion protection is enabled"); moto deletes it.
* CreateTargetGroup keeps ``TargetControlPort`` (ALB's target optimizer) and
  DescribeTargetGroups returns it, as ELBv2 does; moto drops the parameter. ELBv2 has no
  call that changes it (ModifyTargetGroup takes none).
* CreateLoadBalancer is idempotent, as the ELBv2 API reference says ("If you attempt to
  create multiple load balancers with the same settings, each call succeeds"): a call
  naming an existing load balancer with its settings (type, scheme, subnets, security
  groups, IP address type) answers with that one, other settings get
  ``DuplicateLoadBalancerName``. moto made a second load balancer of the same name, so a
  create whose answer was lost (botocore sends it again) left one nobody recorded.
* A target group's ``LoadBalancerArns`` are the load balancers that route traffic to it
  (ELBv2 API reference, TargetGroup): one whose last listener or rule forwarding to it is
  deleted or changed to forward elsewhere (or which is deleted) drops out, and each is
  listed once. moto adds the load balancer on every CreateListener and CreateRule that
  forwards to the group (so twice for two rules), never on ModifyListener or ModifyRule,
  and never removes it. The drift sweep's bulk check reads it
  (:func:`albatross.controller.drift.difference`).

* RegisterTargets on a target group of type ``alb`` (a frontend NLB's, ADR 0012) takes an
  Application Load Balancer that has a listener on the port it is registered on, and one
  ALB per target group (ELBv2 API reference, TargetDescription: "the targeted Application
  Load Balancer must have at least one listener whose port matches"; the ELB user guide:
  "You can only register one Application Load Balancer per target group"), else
  ``InvalidTarget`` / ``TooManyTargets``; moto registers any id on any port.

* A FIFO queue serves a message group to one receiver at a time: while any of its
  messages is in flight (received, not yet deleted, its visibility timeout not over), no
  receive returns another message of that group (SQS Developer Guide, "FIFO queue delivery
  logic": later requests get none of the group's messages until those received are deleted
  or visible again). moto decides which groups are in flight once, when a receive starts:
  a long poll that began before another receiver took a group's first message then hands
  out its second, and two receives at once can split one group. Here each look at the queue
  decides afresh, one receive at a time, and a waiting receive does not spin.

* DynamoDB serves concurrent requests; moto's tables are plain dictionaries, and a Query
  that iterates one while another request writes to it answers HTTP 500 ("dictionary
  changed size during iteration"). Since the offline system delivers events to ingest
  concurrently, as EventBridge does, its requests here are taken one at a time.

* A DynamoDB Query reads one partition: its cost does not grow with the table. moto's
  collects every item of the table, sorts them all and then keeps the partition's, so at
  a few thousand items (300 Ingresses with their Services, slices and pods) each of the
  store's queries cost the local system more than the reconcile that made it. Here a
  query of the table (not of an index) looks at its partition only; what it answers is
  unchanged.

* A receive checks each message's retention against the queue's period, read once: moto
  computed every attribute of the queue (approximate counts over all its messages) for
  each message it looked at, so a receive cost the square of the backlog; at 900
  Ingresses, with 400 records waiting, receives took two fifths of the local system.

* The state machines' Lambda tasks reuse one SDK client per region: moto made a new
  boto3 client for every task it ran (about a tenth of the local system's time at 300
  Ingresses); a client is what Step Functions keeps, not what it costs per task.

Entered by :func:`albatross.local.gaps.fill`; everything is put back on exit.

Opt-in, :func:`target_health`: moto reports a target ``healthy`` the moment it is
registered and forgets it the moment it is deregistered. AWS reports it ``initial``
until its first health checks pass and ``draining`` for the deregistration delay, and a
rolling update that outpaces those can leave a target group with no healthy target (the
reason for pod readiness gates, ADR 0014). Off by default: every other test sees moto's.

Opt-in, :func:`aws_limits`: the ELBv2 validation and quotas AWS enforces and moto does
not (the figures and their sources: :mod:`albatross.model.limits`), and a load balancer
that stays ``provisioning`` for a while before ``active``, as the realistic local AWS
(:mod:`albatross.local.realistic`) runs it.
"""

from __future__ import annotations

import functools
import inspect
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from moto.core.models import botocore_stubber
from moto.core.utils import unix_time
from moto.dynamodb.models.table import Table
from moto.dynamodb.responses import DynamoHandler
from moto.ec2.models.elastic_network_interfaces import NetworkInterface, NetworkInterfaceBackend
from moto.ec2.models.security_groups import SecurityGroupRule
from moto.elbv2.exceptions import DuplicateLoadBalancerName, ELBClientError
from moto.elbv2.models import ELBv2Backend, FakeHealthStatus, FakeLoadBalancer
from moto.elbv2.responses import ELBV2Response
from moto.settings import moto_server_port
from moto.sqs.models import SQSBackend
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

from albatross.model import limits

# moto's check of a rule condition → the condition's config key (RegexValues allowed)
_REGEX_CHECKS = {
    "_validate_host_header_condition": "HostHeaderConfig",
    "_validate_http_header_condition": "HttpHeaderConfig",
    "_validate_path_pattern_condition": "PathPatternConfig",
}


# One FIFO receive at a time picks its messages (they are marked in flight before the next
# looks); how long a waiting receive sleeps before it looks again.
_FIFO_RECEIVE = threading.Lock()
# One DynamoDB request at a time: moto's tables are plain dicts, and a Query iterating a
# table while another request writes to it fails with "dictionary changed size during
# iteration" (HTTP 500), where DynamoDB serves concurrent readers and writers; and a
# conditional write is read, checked and written in steps another request can come between,
# where DynamoDB's is atomic. Re-entrant: a test's server and the offline system may both
# have it in place.
_DYNAMODB = threading.RLock()
_FIFO_LOOK = 0.05


# The table and partition a Query on this thread reads (None: any other read of the table)
_PARTITION = threading.local()


def _partition_query(query: Any) -> Any:
    def one_partition(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        if index_name or hash_key is None:
            return query(self, hash_key, *args, **kwargs)
        _PARTITION.of = (self, hash_key)
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            _PARTITION.of = None

    return one_partition


def _partition_items(all_items: Any) -> Any:
    def items(self: Any) -> Any:
        of = getattr(_PARTITION, "of", None)
        if of is None or of[0] is not self:
            return all_items(self)
        found = self.items.get(of[1])  # keyed by the hash key's value; .get adds no partition
        if not found:
            return []
        return list(found.values()) if self.range_key_attr else [found]  # the query sorts them

    return items


def _reused_clients(client_for: Any) -> Any:
    made: dict[tuple[Any, ...], Any] = {}
    lock = threading.Lock()

    def reused(region: str, service: str, state_credentials: Any = None) -> Any:
        # what moto's client depends on: the region, the service, and the server's port
        key = (region, service, botocore_stubber.enabled, moto_server_port())
        with lock:
            if key not in made:
                made[key] = client_for(region, service, state_credentials)
            return made[key]

    return reused


def _one_at_a_time(call_action: Any) -> Any:
    def serialized(self: Any) -> Any:
        with _DYNAMODB:
            return call_action(self)

    return serialized


@contextmanager
def atomic_dynamodb() -> Iterator[None]:
    """Only the DynamoDB mend above, for a moto server that runs without the others."""
    original = DynamoHandler.__dict__["call_action"]
    DynamoHandler.call_action = _one_at_a_time(original)  # type: ignore[method-assign]  # mended in place, as mend_moto does
    try:
        yield
    finally:
        DynamoHandler.call_action = original  # type: ignore[method-assign]  # put back


def _forwarded_by(balancer: Any) -> set[str]:
    """The target group ARNs a moto load balancer's listeners and rules forward to."""
    found: set[str] = set()
    for listener in balancer.listeners.values():
        found |= _target_groups(listener.default_actions)
        for rule in listener.rules.values():
            if rule.priority != "default":  # moto's stand-in for the default actions
                found |= _target_groups(rule.actions)
    return found


def _relink(backend: Any, balancer_arn: str) -> None:
    """Make every target group list ``balancer_arn`` once if the load balancer (still)
    forwards to it, and not at all otherwise."""
    balancer = backend.load_balancers.get(balancer_arn)
    forwarded = _forwarded_by(balancer) if balancer is not None else set()
    for group in backend.target_groups.values():
        others = [a for a in group.load_balancer_arns if a != balancer_arn]
        wanted = [*others, balancer_arn] if group.arn in forwarded else others
        if wanted != group.load_balancer_arns:
            group.load_balancer_arns = wanted


def _balancer_of(backend: Any, *, listener: str | None = None, rule: str | None = None) -> str | None:
    """The load balancer that holds a listener or a (non-default) rule, by ARN."""
    for balancer in backend.load_balancers.values():
        for found in balancer.listeners.values():
            if found.arn == listener or (rule is not None and rule in found._non_default_rules):
                return str(balancer.arn)
    return None


# the network interface filters on addresses, matched as EC2 matches them (any value)
_ADDRESS_FILTERS = ("addresses.private-ip-address", "ipv6-addresses.ipv6-address")


# ELBv2Backend methods that change what a load balancer forwards to → how to find that
# load balancer from the call's arguments, before the call (a deleted rule is gone after)
_ROUTING: dict[str, Callable[[Any, dict[str, Any]], str | None]] = {
    "create_listener": lambda b, call: str(call["load_balancer_arn"]),
    "modify_listener": lambda b, call: _balancer_of(b, listener=call["arn"]),
    "delete_listener": lambda b, call: _balancer_of(b, listener=call["listener_arn"]),
    "create_rule": lambda b, call: _balancer_of(b, listener=call["listener_arn"]),
    "modify_rule": lambda b, call: _balancer_of(b, rule=call["rule_arn"]),
    "delete_rule": lambda b, call: _balancer_of(b, rule=call["arn"]),
    "delete_load_balancer": lambda b, call: str(call["arn"]),
}


def _relinking(original: Any, locate: Callable[[Any, dict[str, Any]], str | None]) -> Any:
    @functools.wraps(original)  # its signature too: aws_limits binds the arguments by it
    def mended(self: Any, *args: Any, **kwargs: Any) -> Any:
        balancer = locate(self, dict(inspect.signature(original).bind(self, *args, **kwargs).arguments))
        result = original(self, *args, **kwargs)
        if balancer is not None:
            _relink(self, balancer)
        return result

    return mended


@contextmanager
def mend_moto() -> Iterator[None]:
    eni_filter = NetworkInterface.get_filter_value

    def filter_value(self: Any, name: str, method_name: str | None = None) -> Any:
        if name == "addresses.private-ip-address":
            return [self.private_ip_address] + [a.get("PrivateIpAddress") for a in self.private_ip_addresses]
        if name == "ipv6-addresses.ipv6-address":
            return list(self.ipv6_addresses)
        return eni_filter(self, name, method_name)

    all_enis = NetworkInterfaceBackend.__dict__["get_all_network_interfaces"]

    def any_address(self: Any, eni_ids: list[str] | None = None, filters: Any = None) -> Any:
        rest = dict(filters or {})
        wanted = {name: set(rest.pop(name)) for name in _ADDRESS_FILTERS if name in rest}
        found = all_enis(self, eni_ids, rest)
        for name, values in wanted.items():
            found = [eni for eni in found if values & set(filter_value(eni, name))]
        return found

    def description(self: Any) -> Any:
        return self.ip_range.get("Description") or self.source_group.get("Description")

    def regex_check(name: str, config_key: str) -> Any:
        check = ELBv2Backend.__dict__[name]

        def mended(self: Any, condition: dict[str, Any]) -> Any:
            config = condition.get(config_key)
            if isinstance(config, dict) and "RegexValues" in config and "Values" not in config:
                condition = {**condition, config_key: {**config, "Values": config["RegexValues"]}}
            return check(self, condition)

        return mended

    delete_load_balancer = ELBv2Backend.__dict__["delete_load_balancer"]

    def protected_delete(self: Any, arn: str) -> Any:
        found = self.load_balancers.get(arn)
        if found is not None and str(found.attrs.get("deletion_protection.enabled")).lower() == "true":
            raise ELBClientError(
                "OperationNotPermitted",
                f"Load balancer '{arn}' cannot be deleted because deletion protection is enabled",
            )
        return delete_load_balancer(self, arn)

    create_load_balancer = ELBv2Backend.__dict__["create_load_balancer"]

    @functools.wraps(create_load_balancer)  # its signature too: aws_limits binds the arguments by it
    def idempotent_create(self: Any, *args: Any, **kwargs: Any) -> Any:
        call = inspect.signature(create_load_balancer).bind(self, *args, **kwargs)
        call.apply_defaults()
        asked = call.arguments
        found = next((lb for lb in self.load_balancers.values() if lb.name == asked["name"]), None)
        if found is None:
            return create_load_balancer(self, *args, **kwargs)
        subnets = [*(asked["subnet_ids"] or ()), *(m["SubnetId"] for m in asked["subnet_mappings"] or ())]
        same = (
            (found.type or "application") == (asked["loadbalancer_type"] or "application")
            and (found.scheme or "internet-facing") == (asked["scheme"] or "internet-facing")
            and {s.id for s in found.subnets} == set(subnets)
            and set(found.security_groups or ()) == set(asked["security_groups"] or ())
            and (found.ip_address_type or "ipv4") == (asked["ip_address_type"] or "ipv4")
        )
        if not same:
            raise DuplicateLoadBalancerName()
        return found

    create_target_group = ELBV2Response.__dict__["create_target_group"]

    def create_with_control_port(self: Any) -> Any:
        result = create_target_group(self)
        port = self._get_int_param("TargetControlPort")
        if port is not None:
            name = self._get_param("Name")
            for found in self.elbv2_backend.target_groups.values():
                if found.name == name:
                    # moto's serializer reads TargetGroup members from snake_case attributes
                    found.target_control_port = port
        return result

    register_targets = ELBv2Backend.__dict__["register_targets"]

    def register_alb(self: Any, target_group_arn: str, instances: list[Any]) -> Any:
        group = self.target_groups.get(target_group_arn)
        if group is not None and group.target_type == "alb":
            for target in instances:
                alb = self.load_balancers.get(target["Id"])
                port = int(target.get("Port") or group.port)
                if alb is None or alb.type != "application":
                    raise ELBClientError(
                        "InvalidTarget", f"The target '{target['Id']}' is not an Application Load Balancer"
                    )
                if all(int(listener.port) != port for listener in alb.listeners.values()):
                    raise ELBClientError(
                        "InvalidTarget",
                        f"The Application Load Balancer '{target['Id']}' has no listener on port {port}",
                    )
                if any(other != target["Id"] for other in group.targets):
                    raise ELBClientError(
                        "TooManyTargets", "You can only register one Application Load Balancer per target group"
                    )
        return register_targets(self, target_group_arn, instances)

    receive_message = SQSBackend.__dict__["receive_message"]

    def fifo_receive(
        self: Any,
        queue_name: str,
        count: int,
        wait_seconds_timeout: int,
        visibility_timeout: int,
        message_attribute_names: list[str] | None = None,
    ) -> Any:
        queue = self.get_queue(queue_name)
        if not queue.fifo_queue:
            return receive_message(
                self, queue_name, count, wait_seconds_timeout, visibility_timeout, message_attribute_names
            )
        deadline = time.monotonic() + wait_seconds_timeout
        while True:
            with _FIFO_RECEIVE:  # moto's own look, not waiting: it reads the groups in flight now
                found = receive_message(self, queue_name, count, 0, visibility_timeout, message_attribute_names)
            left = deadline - time.monotonic()
            if found or left <= 0:
                return found
            # a send wakes it at once; a delete or an expired timeout is seen a look later
            with queue._messages_lock:
                queue._messages_lock.wait(timeout=min(left, _FIFO_LOOK))

    def retained(self: Any, queue_name: str, message: Any) -> bool:
        period = float(self.get_queue(queue_name).message_retention_period)  # as moto's attributes read it
        return bool(period + message.sent_timestamp / 1000 > unix_time())

    routing: dict[str, Any] = {name: ELBv2Backend.__dict__[name] for name in _ROUTING}
    routing["delete_load_balancer"] = protected_delete  # refused first, relinked after
    mends: list[tuple[Any, str, Any]] = [  # classes, and one module (lambda_eval_utils)
        (SQSBackend, "receive_message", fifo_receive),
        (SQSBackend, "is_message_valid_based_on_retention_period", retained),
        (DynamoHandler, "call_action", _one_at_a_time(DynamoHandler.__dict__["call_action"])),
        (Table, "query", _partition_query(Table.__dict__["query"])),
        (lambda_eval_utils, "boto_client_for", _reused_clients(lambda_eval_utils.__dict__["boto_client_for"])),
        (Table, "all_items", _partition_items(Table.__dict__["all_items"])),
        (ELBv2Backend, "register_targets", register_alb),
        (ELBv2Backend, "create_load_balancer", idempotent_create),
        (ELBV2Response, "create_target_group", create_with_control_port),
        *((ELBv2Backend, name, _relinking(original, _ROUTING[name])) for name, original in routing.items()),
        (NetworkInterface, "get_filter_value", filter_value),
        (NetworkInterfaceBackend, "get_all_network_interfaces", any_address),
        (SecurityGroupRule, "description", property(description)),
        *((ELBv2Backend, name, regex_check(name, key)) for name, key in _REGEX_CHECKS.items()),
    ]
    saved = [(owner, name, owner.__dict__[name]) for owner, name, _ in mends]
    for owner, name, value in mends:
        setattr(owner, name, value)
    try:
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)


# Target health around a registration (opt-in, :func:`target_health`). The states and
# reason codes are DescribeTargetHealth's (ELBv2 API reference, TargetHealth); the
# descriptions are the ones AWS sends with them.
INITIAL, HEALTHY, DRAINING = "initial", "healthy", "draining"
REGISTERING = ("Elb.RegistrationInProgress", "Target registration is in progress")
CHECKING = ("Elb.InitialHealthChecking", "Initial health checks in progress")
DEREGISTERING = ("Target.DeregistrationInProgress", "Target deregistration is in progress")

Target = tuple[str, int]  # (Id, Port)


@dataclass
class _Span:
    """One registration of a target: healthy from ``healthy_from`` until deregistered."""

    target: Target
    registered: float
    healthy_from: float
    until: float = math.inf


class TargetHealth:
    """What :func:`target_health` answers and remembers, per target group ARN.

    A registered target is ``initial`` for ``intervals`` health-check intervals of its
    target group (``None``: its HealthyThresholdCount, the consecutive successful checks
    ELB needs), ``Elb.RegistrationInProgress`` in the first and ``Elb.InitialHealthChecking``
    in the rest, then ``healthy``. A deregistered target is ``draining``
    (``Target.DeregistrationInProgress``) for the group's ``deregistration_delay.timeout_seconds``
    and still listed, then gone. Every duration is AWS's times ``time_scale``."""

    def __init__(self, *, time_scale: float, intervals: int | None, clock: Callable[[], float]) -> None:
        self.time_scale = time_scale
        self.intervals = intervals
        self.clock = clock
        self.spans: dict[str, list[_Span]] = {}
        self.draining: dict[str, dict[Target, float]] = {}  # ARN → target → draining until
        self.groups: dict[str, Any] = {}  # ARN → moto's target group, once seen
        self._lock = threading.Lock()

    def _interval(self, group: Any) -> float:
        return float(group.health_check_interval_seconds) * self.time_scale

    def _checks(self, group: Any) -> int:
        return self.intervals if self.intervals is not None else int(group.healthy_threshold_count)

    def _open(self, arn: str) -> dict[Target, _Span]:
        return {s.target: s for s in self.spans.get(arn, []) if s.until == math.inf}

    def initial_seconds(self, arn: str) -> float:
        """How long a target registered now stays ``initial`` (scaled); 0 for a group
        the model has not seen."""
        group = self.groups.get(arn)
        return 0.0 if group is None else self._checks(group) * self._interval(group)

    def seen(self, arn: str, group: Any) -> None:
        """Take in the targets a group held before the model first saw it: registered
        before the model was on, healthy all along (as moto reported them)."""
        with self._lock:
            self.groups[arn] = group
            if arn not in self.spans:
                self.spans[arn] = [
                    _Span((str(t["Id"]), int(t["Port"])), registered=-math.inf, healthy_from=-math.inf)
                    for t in group.targets.values()
                ]

    def registered(self, arn: str, group: Any, targets: list[Target]) -> None:
        now = self.clock()
        with self._lock:
            current = self._open(arn)
            for target in targets:
                self.draining.get(arn, {}).pop(target, None)  # registered again: a new registration
                if target in current:
                    continue  # already registered: RegisterTargets changes nothing
                for other in current.values():
                    if other.target[0] == target[0]:
                        other.until = now  # moto keeps one port per Id: the old one is gone
                healthy = now + self._checks(group) * self._interval(group)
                self.spans.setdefault(arn, []).append(_Span(target, registered=now, healthy_from=healthy))

    def deregistered(self, arn: str, group: Any, targets: list[Target]) -> None:
        now = self.clock()
        delay = float(group.attributes.get("deregistration_delay.timeout_seconds", 300)) * self.time_scale
        with self._lock:
            current = self._open(arn)
            for target in targets:
                if target in current:
                    current[target].until = now
                self.draining.setdefault(arn, {})[target] = now + delay

    def state(self, arn: str, group: Any, target: Target) -> tuple[str, tuple[str, str] | None]:
        """The target's state now and its (reason, description); ``healthy`` for a target
        registered before the model was on."""
        now = self.clock()
        with self._lock:
            if self.draining.get(arn, {}).get(target, -math.inf) > now:
                return DRAINING, DEREGISTERING
            span = self._open(arn).get(target)
        if span is None or now >= span.healthy_from:
            return HEALTHY, None
        return INITIAL, (REGISTERING if now < span.registered + self._interval(group) else CHECKING)

    def still_draining(self, arn: str) -> list[Target]:
        now = self.clock()
        with self._lock:
            return [t for t, until in self.draining.get(arn, {}).items() if until > now]

    def healthy(self, arn: str, at: float) -> int:
        """How many targets of the group were healthy at ``at`` (the model's clock)."""
        with self._lock:
            return sum(1 for s in self.spans.get(arn, []) if s.healthy_from <= at < s.until)

    def floor(self, arn: str, start: float, end: float) -> int:
        """The fewest healthy targets of the group at any instant from ``start`` to ``end``:
        exact, not sampled (the count only falls when a span ends)."""
        with self._lock:
            ends = [s.until for s in self.spans.get(arn, []) if start <= s.until <= end]
        return min(self.healthy(arn, at) for at in [start, *ends])


@contextmanager
def target_health(
    *, time_scale: float, intervals: int | None = None, clock: Callable[[], float] = time.monotonic
) -> Iterator[TargetHealth]:
    """While inside, moto's ELBv2 reports targets as AWS does around their registration
    (see :class:`TargetHealth`) instead of ``healthy`` at once and gone at once. Off
    unless entered; scale time as the offline system does (``time_scale``)."""
    model = TargetHealth(time_scale=time_scale, intervals=intervals, clock=clock)
    register = ELBv2Backend.__dict__["register_targets"]
    deregister = ELBv2Backend.__dict__["deregister_targets"]
    describe = ELBv2Backend.__dict__["describe_target_health"]

    def keyed(group: Any, targets: list[dict[str, Any]]) -> list[Target]:
        out = []
        for t in targets:
            known = group.targets.get(t["Id"]) or {}
            out.append((str(t["Id"]), int(t.get("Port") or known.get("Port") or group.port)))
        return out

    def registering(self: Any, target_group_arn: str, instances: list[Any]) -> None:
        group = self.target_groups.get(target_group_arn)
        if group is not None:
            model.seen(target_group_arn, group)
        register(self, target_group_arn, instances)
        group = self.target_groups[target_group_arn]
        model.registered(target_group_arn, group, keyed(group, instances))

    def deregistering(self: Any, target_group_arn: str, instances: list[dict[str, Any]]) -> None:
        group = self.target_groups.get(target_group_arn)
        if group is not None:
            model.seen(target_group_arn, group)
        going = keyed(group, instances) if group is not None else []  # the ports before moto forgets them
        deregister(self, target_group_arn, instances)
        model.deregistered(target_group_arn, group, going)

    def describing(self: Any, target_group_arn: str, targets: list[dict[str, Any]]) -> list[FakeHealthStatus]:
        found = describe(self, target_group_arn, targets)
        group = self.target_groups[target_group_arn]
        model.seen(target_group_arn, group)
        out = []
        for status in found:
            target = (str(status.instance_id), int(status.port))
            if status.status in (HEALTHY, "unused"):  # moto's answer for registered / deregistered
                state, why = model.state(target_group_arn, group, target)
                if state != HEALTHY:
                    status = FakeHealthStatus(target[0], str(target[1]), status.health_check_port, state, *(why or ()))
            out.append(status)
        if not targets:  # the whole list: AWS lists draining targets too
            listed = {(str(s.instance_id), int(s.port)) for s in out}
            port = group.health_check_port
            out += [
                FakeHealthStatus(t[0], str(t[1]), port, DRAINING, *DEREGISTERING)
                for t in model.still_draining(target_group_arn)
                if t not in listed
            ]
        return out

    mended = {
        "register_targets": (register, registering),
        "deregister_targets": (deregister, deregistering),
        "describe_target_health": (describe, describing),
    }
    for name, (_, value) in mended.items():
        setattr(ELBv2Backend, name, value)
    try:
        yield model
    finally:
        for name, (value, _) in mended.items():
            setattr(ELBv2Backend, name, value)


# AWS's validation and quotas where moto is lenient (opt-in, :func:`aws_limits`; the
# realistic local AWS enters it). The figures and their sources are
# :mod:`albatross.model.limits`'; the codes and words are the ELBv2 API reference's error
# list where it has them.
_TOO_MANY = {
    "TooManyRules": "You've reached the limit on the number of rules per load balancer.",
    "TooManyCertificates": "You've reached the limit on the number of certificates per load balancer.",
    "TooManyTags": "You've reached the limit on the number of tags for this resource.",
    "TooManyListeners": "You've reached the limit on the number of listeners per load balancer.",
    # the ELBv2 API reference's words for RegisterTargets' TooManyTargets
    "TooManyTargets": "You've reached the limit on the number of targets.",
    "TooManyUniqueTargetGroupsPerLoadBalancer": (
        "You've reached the limit on the number of unique target groups per load balancer across all listeners. "
        "If a target group is used by multiple actions for a load balancer, it is counted as only one use."
    ),
}
# conditions whose values are matched against the request (ALB's "match evaluations")
_MATCHED = ("host-header", "path-pattern", "http-header", "query-string")


def _too_many(code: str) -> ELBClientError:
    return ELBClientError(code, _TOO_MANY[code])


def _validation(message: str) -> ELBClientError:
    return ELBClientError("ValidationError", message)


def condition_counts(conditions: list[dict[str, Any]]) -> tuple[int, int, int]:
    """A rule's (condition values, wildcards, match evaluations), as ALB counts them: every
    value of every condition (a query string's key/value pair is one), the ``*`` and ``?``
    in the values matched against the request, and those values themselves."""
    values = wildcards = evaluations = 0
    for condition in conditions:
        field = condition.get("Field", "")
        texts: list[str] = list(condition.get("Values") or [])
        for key, config in condition.items():
            if not key.endswith("Config") or not isinstance(config, dict):
                continue
            for item in config.get("Values") or config.get("RegexValues") or []:
                if isinstance(item, dict):  # query-string: {Key, Value}
                    texts.append(f"{item.get('Key') or ''}{item.get('Value') or ''}")
                else:
                    texts.append(str(item))
        values += len(texts)
        if field in _MATCHED:
            evaluations += len(texts)
            wildcards += sum(t.count("*") + t.count("?") for t in texts)
    return values, wildcards, evaluations


def _target_groups(actions: list[Any]) -> set[str]:
    """The target group ARNs a list of actions (API dicts or moto's FakeAction) forwards to."""
    found: set[str] = set()
    for action in actions:
        data = action.data if hasattr(action, "data") else action
        if data.get("TargetGroupArn"):
            found.add(str(data["TargetGroupArn"]))
        for group in (data.get("ForwardConfig") or {}).get("TargetGroups") or []:
            found.add(str(group["TargetGroupArn"]))
    return found


def _check_actions(actions: list[dict[str, Any]]) -> None:
    for action in actions:
        groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
        if len(groups) > limits.TARGET_GROUPS_PER_ACTION:
            # ALB quotas' figure; the code and words are ours (AWS's answer is not documented)
            raise _validation(f"A forward action can have at most '{limits.TARGET_GROUPS_PER_ACTION}' target groups")


def _check_conditions(conditions: list[dict[str, Any]]) -> None:
    values, wildcards, evaluations = condition_counts(conditions)
    # AWS's words for condition values (its answer quoted in aws-cdk #10065, cfn-lint #3833);
    # the other two follow them
    if values > limits.CONDITION_VALUES_PER_RULE:
        raise _validation(f"A rule can only have '{limits.CONDITION_VALUES_PER_RULE}' condition values")
    if wildcards > limits.WILDCARDS_PER_RULE:
        raise _validation(f"A rule can only have '{limits.WILDCARDS_PER_RULE}' wildcards")
    if evaluations > limits.MATCH_EVALUATIONS_PER_RULE:
        raise _validation(f"A rule can only have '{limits.MATCH_EVALUATIONS_PER_RULE}' match evaluations")


def _check_priority(priority: Any, field: str) -> None:
    # AWS's (Coral's) words for a value outside the model's range
    value = int(priority)
    if value > limits.MAX_PRIORITY:
        raise _validation(
            f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: "
            f"Member must have value less than or equal to {limits.MAX_PRIORITY}"
        )
    if value < limits.MIN_PRIORITY:
        raise _validation(
            f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: "
            f"Member must have value greater than or equal to {limits.MIN_PRIORITY}"
        )


def _check_tags(tags: list[dict[str, str]] | None) -> None:
    if tags and len({t["Key"] for t in tags}) > limits.TAGS_PER_RESOURCE:
        raise _too_many("TooManyTags")


class Provisioning:
    """When each load balancer made while :func:`aws_limits` is on was made (``clock``'s
    seconds), and how long it stays ``provisioning``."""

    def __init__(self, *, seconds: float, clock: Callable[[], float]) -> None:
        self.seconds = seconds
        self.clock = clock
        self.made: dict[str, float] = {}  # load balancer ARN → made at
        self.instant = False  # load balancers made meanwhile are active at once (a harness's setup)

    def ready(self, arn: str) -> bool:
        made = self.made.get(arn)
        return made is None or self.clock() - made >= self.seconds


@contextmanager
def aws_limits(*, clock: Callable[[], float], provisioning_seconds: float) -> Iterator[Provisioning]:
    """While inside, moto's ELBv2 refuses what AWS refuses (names over 32 characters, a
    101st rule on a load balancer, more condition values, wildcards or match evaluations
    than a rule may have, priorities outside 1 to 50000, a 26th certificate, a 51st tag, a
    51st listener, more target groups than an action or a load balancer may use, a target
    group's 1,001st target or a load balancer's, counted over its target groups) and a
    new load balancer stays ``provisioning`` for ``provisioning_seconds`` of ``clock``
    before DescribeLoadBalancers reports it ``active``. Off unless entered."""
    provisioning = Provisioning(seconds=provisioning_seconds, clock=clock)
    originals = {name: ELBv2Backend.__dict__[name] for name in _LIMITED}
    activate = FakeLoadBalancer.__dict__["activate"]

    def bound(name: str, self: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        return dict(inspect.signature(originals[name]).bind(self, *args, **kwargs).arguments)

    def balancer_of(self: Any, listener_arn: str) -> Any:
        listener = self.describe_listeners(None, [listener_arn])[0]
        return self.load_balancers[listener.load_balancer_arn]

    def rules_of(balancer: Any) -> list[Any]:
        return [r for lst in balancer.listeners.values() for r in lst.rules.values() if r.priority != "default"]

    def groups_of(balancer: Any, *, leaving: str | None = None) -> set[str]:
        found: set[str] = set()
        for listener in balancer.listeners.values():
            found |= _target_groups(listener.default_actions)
            for rule in listener.rules.values():
                if rule.priority != "default" and rule.arn != leaving:
                    found |= _target_groups(rule.actions)
        return found

    def create_load_balancer(self: Any, *args: Any, **kwargs: Any) -> Any:
        call = bound("create_load_balancer", self, args, kwargs)
        name = str(call["name"])
        if len(name) > limits.LOAD_BALANCER_NAME:
            # ELBv2's answer, as CloudFormation relays it (cfn-lint #3259)
            raise _validation(
                f"The load balancer name '{name}' cannot be longer than '{limits.LOAD_BALANCER_NAME}' characters"
            )
        _check_tags(call.get("tags"))
        made = originals["create_load_balancer"](self, *args, **kwargs)
        if not provisioning.instant:  # an idempotent repeat's answer (mend_moto) keeps its first time
            provisioning.made.setdefault(made.arn, clock())
        return made

    def create_target_group(self: Any, *args: Any, **kwargs: Any) -> Any:
        _check_tags(kwargs.get("tags"))
        return originals["create_target_group"](self, *args, **kwargs)

    def create_listener(self: Any, *args: Any, **kwargs: Any) -> Any:
        call = bound("create_listener", self, args, kwargs)
        balancer = self.load_balancers.get(call["load_balancer_arn"])
        if balancer is not None:
            if len(balancer.listeners) >= limits.LISTENERS_PER_LOAD_BALANCER:
                raise _too_many("TooManyListeners")
            _check_actions(call["actions"])
            if len(groups_of(balancer) | _target_groups(call["actions"])) > limits.TARGET_GROUPS_PER_LOAD_BALANCER:
                raise _too_many("TooManyUniqueTargetGroupsPerLoadBalancer")
        _check_tags(call.get("tags"))
        return originals["create_listener"](self, *args, **kwargs)

    def modify_listener(self: Any, *args: Any, **kwargs: Any) -> Any:
        call = bound("modify_listener", self, args, kwargs)
        actions = call.get("actions") or []
        _check_actions(actions)
        balancer = balancer_of(self, call["arn"])
        if len(groups_of(balancer) | _target_groups(actions)) > limits.TARGET_GROUPS_PER_LOAD_BALANCER:
            raise _too_many("TooManyUniqueTargetGroupsPerLoadBalancer")
        return originals["modify_listener"](self, *args, **kwargs)

    def create_rule(self: Any, *args: Any, **kwargs: Any) -> Any:
        call = bound("create_rule", self, args, kwargs)
        _check_priority(call["priority"], "priority")
        _check_conditions(call["conditions"])
        _check_actions(call["actions"])
        _check_tags(call.get("tags"))
        balancer = balancer_of(self, call["listener_arn"])
        if len(rules_of(balancer)) >= limits.RULES_PER_LOAD_BALANCER:
            raise _too_many("TooManyRules")
        if len(groups_of(balancer) | _target_groups(call["actions"])) > limits.TARGET_GROUPS_PER_LOAD_BALANCER:
            raise _too_many("TooManyUniqueTargetGroupsPerLoadBalancer")
        return originals["create_rule"](self, *args, **kwargs)

    def modify_rule(self: Any, *args: Any, **kwargs: Any) -> Any:
        call = bound("modify_rule", self, args, kwargs)
        if call.get("conditions"):
            _check_conditions(call["conditions"])
        actions = call.get("actions") or []
        _check_actions(actions)
        found = self.describe_rules(listener_arn=None, rule_arns=[call["rule_arn"]])
        if found and actions:
            balancer = balancer_of(self, found[0].listener_arn)
            groups = groups_of(balancer, leaving=found[0].arn) | _target_groups(actions)
            if len(groups) > limits.TARGET_GROUPS_PER_LOAD_BALANCER:
                raise _too_many("TooManyUniqueTargetGroupsPerLoadBalancer")
        return originals["modify_rule"](self, *args, **kwargs)

    def set_rule_priorities(self: Any, *args: Any, **kwargs: Any) -> Any:
        call = bound("set_rule_priorities", self, args, kwargs)
        for i, item in enumerate(call["rule_priorities"], 1):
            _check_priority(item["Priority"], f"rulePriorities.{i}.member.priority")
        return originals["set_rule_priorities"](self, *args, **kwargs)

    def add_listener_certificates(self: Any, *args: Any, **kwargs: Any) -> Any:
        call = bound("add_listener_certificates", self, args, kwargs)
        balancer = balancer_of(self, call["arn"])
        held = {(lst.arn, c) for lst in balancer.listeners.values() for c in lst.certificates if c != lst.certificate}
        adding = {(call["arn"], str(c["CertificateArn"])) for c in call["certificates"]}
        if len(held | adding) > limits.CERTIFICATES_PER_LOAD_BALANCER:
            raise _too_many("TooManyCertificates")
        return originals["add_listener_certificates"](self, *args, **kwargs)

    def add_tags(self: Any, resource_arns: list[str], tags: list[dict[str, str]]) -> None:
        # moto refuses an 11th tag; ELBv2 allows 50
        keys = {t["Key"] for t in tags}
        for arn in resource_arns:
            existing = self.tagging_service.get_tag_dict_for_resource(arn)
            if len(set(existing) | keys) > limits.TAGS_PER_RESOURCE:
                raise _too_many("TooManyTags")
            self._get_resource_by_arn(arn)
            self.tagging_service.tag_resource(arn, tags)

    def register_targets(self: Any, *args: Any, **kwargs: Any) -> Any:
        call = bound("register_targets", self, args, kwargs)
        group = self.target_groups.get(call["target_group_arn"])
        if group is not None:
            adding = {str(t["Id"]) for t in call["instances"]}
            if len(set(group.targets) | adding) > limits.TARGETS_PER_TARGET_GROUP:
                raise _too_many("TooManyTargets")
            for balancer in group.load_balancer_arns:
                others = [g for g in self.target_groups.values() if balancer in g.load_balancer_arns and g is not group]
                held = sum(len(g.targets) for g in others) + len(set(group.targets) | adding)
                if held > limits.TARGETS_PER_LOAD_BALANCER:
                    raise _too_many("TooManyTargets")
        return originals["register_targets"](self, *args, **kwargs)

    def activate_when_ready(self: Any) -> None:
        if provisioning.ready(self.arn):
            activate(self)

    mended: dict[str, Any] = {
        "create_load_balancer": create_load_balancer,
        "create_target_group": create_target_group,
        "create_listener": create_listener,
        "modify_listener": modify_listener,
        "create_rule": create_rule,
        "modify_rule": modify_rule,
        "set_rule_priorities": set_rule_priorities,
        "add_listener_certificates": add_listener_certificates,
        "add_tags": add_tags,
        "register_targets": register_targets,
    }
    for name, value in mended.items():
        # with the original's signature: a mend entered after this one (mend_moto's
        # idempotent create, the routing relinks) binds its arguments by it
        setattr(ELBv2Backend, name, functools.wraps(originals[name])(value))
    FakeLoadBalancer.activate = activate_when_ready  # type: ignore[method-assign]  # restored on exit
    try:
        yield provisioning
    finally:
        for name, value in originals.items():
            setattr(ELBv2Backend, name, value)
        FakeLoadBalancer.activate = activate  # type: ignore[method-assign]  # restored


_LIMITED = (
    "create_load_balancer",
    "create_target_group",
    "create_listener",
    "modify_listener",
    "create_rule",
    "modify_rule",
    "set_rule_priorities",
    "add_listener_certificates",
    "add_tags",
    "register_targets",
)
