"""AWS's own events through the offline system: no failure waits for the drift sweep
(issue 14, item 9). The local AWS puts on the default bus what Step Functions and
CloudTrail would (albatross.local.awsevents), and the template's rules deliver them to
AwsEventsFunction. The drift schedule is never fired here.

* A provision execution stopped mid-way (ABORTED, its ReportFailure never ran) is
  reported at once: a FailedDeployModel Warning, the group released and reconciled
  again, and the load balancer it had begun gets its listener and rule.
* A target deregistered by hand, and a rule deleted by hand, are back at once: each
  change is someone else's call (CloudTrail), its resource is the group's, and the
  group gets a fresh reconcile. Albatross's own calls, recorded the same way, are left
  out by the rule: only the hand-made change reaches the function.
"""

from __future__ import annotations

from typing import Any

from albatross.aws import clients
from albatross.local.demo import ingress_hostname
from albatross.local.kube import pod_ip
from albatross.local.system import LocalSystem
from tests.e2e.conftest import ROOT
from tests.e2e.test_drift import rules
from tests.e2e.test_slice import NAME, NS, apply, events_for, executions, ready_2048, work_queue_idle
from tests.e2e.test_targets import targets

PODS = {pod_ip(NS, NAME, i) for i in range(3)}
API_CALL = "AWS API Call via CloudTrail"


def invocations(system: LocalSystem, logical: str) -> int:
    return system.dispatcher.invocations.get(str(system.cloud.deployment.attributes[logical]["Ref"]), 0)


def taps_idle(system: LocalSystem) -> bool:
    """Nothing waits in the queues the rules deliver through, and the work is done."""
    for route in system.cloud.deployment.rule_routes:
        attrs = clients.sqs().get_queue_attributes(
            QueueUrl=route.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        if any(v != "0" for v in attrs.values()):
            return False
    return work_queue_idle(system)


def test_a_provision_stopped_midway_is_reported_and_reconciled_at_once(system: LocalSystem) -> None:
    provision = str(system.output("ProvisionStateMachineArn"))
    stopped: list[str] = []

    def stop_the_execution(model: Any, **_: Any) -> None:
        """Someone stops the execution while its ApplyLoadBalancer task runs: the task ends,
        the execution is ABORTED before WaitForLoadBalancer, its ReportFailure never runs."""
        if model.name != "CreateLoadBalancer" or stopped:
            return
        sfn = clients.sfn()
        [running] = sfn.list_executions(stateMachineArn=provision, statusFilter="RUNNING")["executions"]
        sfn.stop_execution(executionArn=running["executionArn"])
        stopped.append(running["executionArn"])

    clients.add_hook("before-call.*.*", stop_the_execution, unique_id="test-stop-provision")
    try:
        apply(system, ROOT / "examples/2048/2048.yaml")
        system.wait_for("the execution to be stopped", lambda: stopped)
        system.wait_for("the Ingress address", lambda: ingress_hostname(system, NS, NAME))
        system.wait_for("the queues to drain", lambda: taps_idle(system))
    finally:
        clients.remove_hook("test-stop-provision")

    assert executions(system, "ProvisionStateMachineArn").count("ABORTED") == 1
    assert "RUNNING" not in executions(system, "ProvisionStateMachineArn")
    [lb] = clients.elbv2().describe_load_balancers()["LoadBalancers"]  # the one it began, finished in place
    assert rules(lb["LoadBalancerArn"]) == 1
    warnings = [m for kind, reason, m in events_for(system, NS, NAME) if reason == "FailedDeployModel"]
    assert warnings  # as ReportFailure would have warned
    assert invocations(system, "AwsEventsFunction") >= 1
    assert invocations(system, "DriftFunction") == 0


def test_changes_made_by_hand_are_repaired_at_once(system: LocalSystem) -> None:
    delivered: list[dict[str, Any]] = []  # every event a rule delivers (a redelivery too)

    def record(event: dict[str, Any]) -> list[dict[str, Any]]:
        delivered.append(event)
        return [event]

    def calls() -> set[tuple[str, str]]:
        """The CloudTrail records delivered: (call, caller's identity type), once each."""
        details = {e["detail"]["eventID"]: e["detail"] for e in delivered if e.get("detail-type") == API_CALL}
        return {(d["eventName"], d["userIdentity"]["type"]) for d in details.values()}

    system.dispatcher.deliveries = record
    ready_2048(system)
    system.wait_for("the rules' deliveries to drain", lambda: taps_idle(system))
    # Albatross's own calls were recorded too (a trail logs every call), and left out
    recorded = system.cloud.aws_events.sent.get(API_CALL, 0)
    assert recorded > 0
    assert calls() == set()
    elbv2 = clients.elbv2()

    # a target deregistered by hand: the targets fast path would trust its digest
    [tg] = elbv2.describe_target_groups()["TargetGroups"]
    gone = pod_ip(NS, NAME, 0)
    elbv2.deregister_targets(TargetGroupArn=tg["TargetGroupArn"], Targets=[{"Id": gone, "Port": 80}])
    assert targets() == PODS - {gone}
    system.wait_for("the target back", lambda: targets() == PODS)
    system.wait_for("the queues to drain", lambda: taps_idle(system))

    # a rule deleted by hand
    [lb] = elbv2.describe_load_balancers()["LoadBalancers"]
    [listener] = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    [rule] = [r for r in elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"] if not r["IsDefault"]]
    elbv2.delete_rule(RuleArn=rule["RuleArn"])
    assert rules(lb["LoadBalancerArn"]) == 0
    system.wait_for("the rule back", lambda: rules(lb["LoadBalancerArn"]) == 1)
    system.wait_for("the queues to drain", lambda: taps_idle(system))

    # only the two hand-made calls reached the function; the repairs' own calls did not
    assert system.cloud.aws_events.sent[API_CALL] > recorded + 2
    assert calls() == {("DeregisterTargets", "IAMUser"), ("DeleteRule", "IAMUser")}
    assert invocations(system, "DriftFunction") == 0
