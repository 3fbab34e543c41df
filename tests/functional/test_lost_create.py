"""A load balancer whose CreateLoadBalancer response is lost is still the group's.

The request reaches AWS, AWS makes the load balancer, and the answer never arrives:
botocore sees a read timeout and sends the same call again. CreateLoadBalancer is
idempotent (ELBv2 API reference: "If you attempt to create multiple load balancers with
the same settings, each call succeeds"): the retry answers with the load balancer the
first call made, so the provision records that one as the group's, and the group's
teardown deletes it. Nothing is left tagged for the stack and unrecorded, which the
reconcile would refuse to touch (``set_aside``) for good.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSPreparedRequest
from botocore.exceptions import ClientError, ReadTimeoutError

from albatross.aws import clients, discovery
from albatross.controller import phases
from albatross.local.chaos import _deliver as deliver  # the chaos's own way to let AWS act and lose the answer
from albatross.local.chaos import _operation as operation  # the query protocol's Action, as the chaos reads it
from albatross.local.mends import mend_moto
from albatross.local.system import make_vpc
from albatross.plan.actual import StackIndex
from albatross.plan.planner import plan
from albatross.store.table import Store
from tests.functional.test_ownership import CLUSTER, STACK, desired
from tests.functional.test_provision_reads import counted, load_balancers, provision
from tests.functional.test_store import table

_HOOK = "albatross-test-lost-create"


@pytest.fixture
def lost(moto_endpoint: str) -> Iterator[list[str]]:
    """The first CreateLoadBalancer reaches the local AWS and its answer is lost; the
    list holds the operations whose answer was lost."""
    gone: list[str] = []

    def send(request: AWSPreparedRequest, **_: Any) -> None:
        if operation(request) == "CreateLoadBalancer" and not gone:
            deliver(request)  # AWS acts on it ...
            gone.append("CreateLoadBalancer")
            raise ReadTimeoutError(endpoint_url=request.url)  # ... and the answer never arrives

    clients.add_hook("before-send.elastic-load-balancing-v2", send, unique_id=_HOOK)
    try:
        with mend_moto():  # the local AWS, as the offline system runs it
            yield gone
    finally:
        clients.remove_hook(_HOOK)


def test_a_lost_create_response_still_makes_the_load_balancer_the_groups(lost: list[str]) -> None:
    store: Store = table()
    stack = desired(make_vpc(CLUSTER))
    provision(store, stack)
    assert lost == ["CreateLoadBalancer"]  # the chaos did bite
    [lb] = load_balancers()  # the retry did not make a second one
    state = store.group_state(STACK)
    assert lb["LoadBalancerArn"] in state.owned
    assert state.index is not None
    assert state.index["ids"]["LoadBalancer"] == lb["LoadBalancerArn"]
    # the group goes: its teardown (as its reconcile starts it, by the index) deletes it
    actual = discovery.find_indexed(StackIndex.from_json(state.index))
    assert actual is not None
    store.save_model(STACK, model=None, leaving=[])
    counted(
        "teardown.asl.json", store, phases.View.of(desired=None, actual=actual, steps=plan(None, actual), trusted=True)
    )
    assert load_balancers() == []
    assert discovery.find_stack(cluster=CLUSTER, stack_id=STACK, recorded={}).resources == ()


def test_the_same_name_with_other_settings_is_refused(moto_endpoint: str) -> None:
    """The local AWS as the ELBv2 API reference has it: a repeat with the same settings
    answers with the load balancer made first; the name with other settings is
    DuplicateLoadBalancerName ("A load balancer with the specified name already exists")."""
    vpc = make_vpc(CLUSTER)
    found = clients.ec2().describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    subnets = (
        sorted(s["SubnetId"] for s in found if s["AvailabilityZone"] != "us-east-1a")[:1]
        + sorted(s["SubnetId"] for s in found if s["AvailabilityZone"] == "us-east-1a")[:1]
    )
    elbv2 = clients.elbv2()
    with mend_moto():
        first = elbv2.create_load_balancer(Name="k8s-lost-create", Subnets=subnets)["LoadBalancers"][0]
        again = elbv2.create_load_balancer(Name="k8s-lost-create", Subnets=subnets)["LoadBalancers"][0]
        assert again["LoadBalancerArn"] == first["LoadBalancerArn"]
        with pytest.raises(ClientError) as refused:
            elbv2.create_load_balancer(Name="k8s-lost-create", Subnets=subnets, Scheme="internal")
    assert refused.value.response["Error"]["Code"] == "DuplicateLoadBalancerName"
    assert [lb["LoadBalancerArn"] for lb in load_balancers()] == [first["LoadBalancerArn"]]
