"""The Resource Groups Tagging API is eventually consistent: in AWS a load balancer,
target group or security group made a moment ago may be missing from GetResources. The
provision's phases never search by tags (the view their reconcile found, and the records
of what they made, by id), so with the offline system's tagging lag on, longer than the
whole provision, 2048 still gets exactly one of each resource and converges. An
execution without a view reads the stack by tags and records; without the records too
(the tag search alone, as the phases read before) the same provision fails: the lag
mode does model the failure."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from albatross.aws import clients, discovery
from albatross.controller import phases
from albatross.local.demo import ingress_hostname
from albatross.local.faults import TaggingLag, tagging_lag
from albatross.local.kube import pod_ip
from albatross.local.system import LocalSystem, local_system
from albatross.model.names import TAG_STACK
from tests.e2e.test_slice import NAME, NS, STACK, apply, events_for, executions, work_queue_idle

ROOT = Path(__file__).resolve().parents[2]
TIME_SCALE = 0.05  # the offline system's, stated here: the lag is scaled as its waits are
LAG_SECONDS = 600 * TIME_SCALE  # ten minutes in AWS: longer than the provision takes here


@pytest.fixture
def lagging(tmp_path: Path) -> Iterator[tuple[LocalSystem, TaggingLag]]:
    with local_system(ROOT, work_dir=tmp_path, time_scale=TIME_SCALE) as system, tagging_lag(LAG_SECONDS) as lag:
        yield system, lag


def stack_resources() -> dict[str, list[Any]]:
    """Everything in AWS that belongs to the 2048 group, read directly (never through the
    tagging API): load balancers, listeners, rules, target groups, security groups."""
    elbv2 = clients.elbv2()
    lbs = elbv2.describe_load_balancers()["LoadBalancers"]
    listeners = [
        listener
        for lb in lbs
        for listener in elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    ]
    rules = [
        rule
        for listener in listeners
        for rule in elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
        if not rule["IsDefault"]
    ]
    groups = clients.ec2().describe_security_groups(Filters=[{"Name": f"tag:{TAG_STACK}", "Values": [STACK]}])
    return {
        "LoadBalancer": lbs,
        "Listener": listeners,
        "ListenerRule": rules,
        "TargetGroup": elbv2.describe_target_groups()["TargetGroups"],
        "SecurityGroup": groups["SecurityGroups"],
    }


def test_provisioning_with_a_lagging_tag_search_makes_one_of_each_and_converges(
    lagging: tuple[LocalSystem, TaggingLag],
) -> None:
    system, lag = lagging
    apply(system, ROOT / "examples/2048/2048.yaml")
    hostname = system.wait_for("the Ingress address", lambda: ingress_hostname(system, NS, NAME), timeout=90)
    system.wait_for("the queue to drain", lambda: work_queue_idle(system))

    found = stack_resources()
    # LBC's resources for 2048: one ALB, its HTTP:80 listener with the one path's rule,
    # one target group, and the load balancer's managed security group
    assert {kind: len(items) for kind, items in found.items()} == dict.fromkeys(found, 1)
    [lb], [tg], [sg] = found["LoadBalancer"], found["TargetGroup"], found["SecurityGroup"]
    assert hostname == lb["DNSName"]
    assert lb["SecurityGroups"][0] == sg["GroupId"]  # then the cluster's shared backend group (issue 15)
    assert len(lb["SecurityGroups"]) == 2
    assert executions(system, "ProvisionStateMachineArn") == ["SUCCEEDED"]
    assert not [e for e in events_for(system, NS, NAME) if e[0] == "Warning"]
    health = clients.elbv2().describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]
    assert sorted(t["Target"]["Id"] for t in health) == sorted(pod_ip(NS, NAME, i) for i in range(3))
    # no phase asked the lagging search: it never left one of them out
    assert not {lb["LoadBalancerArn"], tg["TargetGroupArn"], sg["GroupId"]} & lag.hidden


def test_without_the_records_of_what_was_made_the_lagging_search_fails_the_provision(
    lagging: tuple[LocalSystem, TaggingLag], monkeypatch: pytest.MonkeyPatch
) -> None:
    system, lag = lagging
    search_only = discovery.locate

    def locate(*, cluster: str, stack_id: str, recorded: Any = None) -> discovery.Found:
        return search_only(cluster=cluster, stack_id=stack_id)

    monkeypatch.setattr(discovery, "locate", locate)  # the handlers run in this process
    monkeypatch.setattr(phases, "view_of", lambda event: None)  # an execution without a view
    apply(system, ROOT / "examples/2048/2048.yaml")
    system.wait_for("the failed provision", lambda: "FAILED" in executions(system, "ProvisionStateMachineArn"))
    [(_, reason, message), *_] = system.wait_for(
        "the Warning", lambda: [e for e in events_for(system, NS, NAME) if e[0] == "Warning"]
    )
    assert reason == "FailedDeployModel"
    # the load balancer refers to the security group made a phase earlier, not found
    assert "refers to a resource that does not exist yet" in message
    assert lag.hidden
    assert ingress_hostname(system, NS, NAME) is None
