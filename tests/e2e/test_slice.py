"""One Ingress → one ALB, end to end offline, on the same code path as ``make demo``:
the forwarder process, the bus, ingest, reconcile, the provision and teardown state
machines executed by moto with the real step handler, and the write-back queue. The AWS
state in moto is asserted after each step, and the Ingress in the API double."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes import utils

from albatross.aws import clients
from albatross.aws.calls import CallCounter
from albatross.controller import queues
from albatross.k8s.ingress import GroupID
from albatross.local.demo import ingress_gone, ingress_hostname, run_demo, tagged_resources
from albatross.local.kube import pod_ip
from albatross.local.system import LocalSystem
from albatross.model import names
from tests.doc_blocks import missing
from tests.k8s_typing import must

ROOT = Path(__file__).resolve().parents[2]
NS = NAME = "game-2048"
STACK = f"{NS}/{NAME}"


def apply(system: LocalSystem, path: Path) -> None:
    utils.create_from_yaml(system.api(), str(path))  # type: ignore[no-untyped-call]  # untyped in the client


def tags(arn: str) -> dict[str, str]:
    found = clients.elbv2().describe_tags(ResourceArns=[arn])["TagDescriptions"][0]["Tags"]
    return {t["Key"]: t.get("Value", "") for t in found}


def executions(system: LocalSystem, output: str) -> list[str]:
    arn = system.output(output)
    return [e["status"] for e in clients.sfn().list_executions(stateMachineArn=arn)["executions"]]


def events_for(system: LocalSystem, namespace: str, name: str) -> list[tuple[str, str, str]]:
    items = k8s.CoreV1Api(system.api()).list_namespaced_event(namespace).items
    return [(str(e.type), str(e.reason), str(e.message)) for e in items if e.involved_object.name == name]


def ingress_object(system: LocalSystem, namespace: str = NS, name: str = NAME) -> dict[str, Any]:
    """The Ingress as the API returns it, as plain JSON."""
    found = k8s.NetworkingV1Api(system.api()).read_namespaced_ingress(name, namespace)
    return dict(system.api().sanitize_for_serialization(found))  # type: ignore[no-untyped-call]  # untyped


def ingress_entry(system: LocalSystem, obj: dict[str, Any], version: int | str | None = None) -> dict[str, Any]:
    """The PutEvents entry the forwarder would send for ``obj`` (at ``version``)."""
    rv = str(version if version is not None else obj["metadata"]["resourceVersion"])
    sent = {**obj, "metadata": {**obj["metadata"], "resourceVersion": rv}}
    meta = sent["metadata"]
    detail = {
        "schemaVersion": "1",
        "cluster": system.cluster,
        "kind": "Ingress",
        "action": "upsert",
        "key": f"{meta['namespace']}/{meta['name']}",
        "resourceVersion": rv,
        "object": sent,
    }
    return {
        "EventBusName": str(system.output("EventBusName")),
        "Source": "albatross.k8s",
        "DetailType": "Ingress",
        "Detail": json.dumps(detail),
    }


def ready_2048(system: LocalSystem) -> None:
    """The 2048 example applied, its address set and the work queue drained."""
    apply(system, ROOT / "examples/2048/2048.yaml")
    system.wait_for("the Ingress address", lambda: ingress_hostname(system, NS, NAME))
    system.wait_for("the queue to drain", lambda: work_queue_idle(system))


def _queues_empty(system: LocalSystem) -> bool:
    for queue in ("WORK_QUEUE_URL", "URGENT_WORK_QUEUE_URL", "TARGETS_QUEUE_URL"):
        attrs = clients.sqs().get_queue_attributes(
            QueueUrl=str(system.cloud.deployment.environment[queue]),
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        if any(v != "0" for v in attrs.values()):
            return False
    return not system.dispatcher.busy()


def work_queue_idle(system: LocalSystem) -> bool:
    """Nothing queued or running, twice, longer than the work queue's 1 s delay apart (a
    message still in its delay is not always counted)."""
    if not _queues_empty(system):
        return False
    time.sleep(1.2)
    return _queues_empty(system)


def test_one_ingress_becomes_one_alb_and_goes_away(system: LocalSystem) -> None:
    apply(system, ROOT / "examples/2048/2048.yaml")
    disc, net = k8s.DiscoveryV1Api(system.api()), k8s.NetworkingV1Api(system.api())

    # 1. the endpoints stand-in publishes 3 ready pod IPs
    slices = disc.list_namespaced_endpoint_slice(NS).items
    assert [len(must(s.endpoints)) for s in slices] == [3]
    pods = {pod_ip(NS, NAME, i) for i in range(3)}

    # 2. the forwarder adds the finalizer
    finalizers = system.wait_for(
        "the finalizer", lambda: must(net.read_namespaced_ingress(NAME, NS).metadata).finalizers, timeout=30
    )
    assert finalizers == ["ingress.k8s.aws/resources"]

    # 3-6. snapshot → reconcile → provision → targets → write-back
    hostname = system.wait_for("the Ingress address", lambda: ingress_hostname(system, NS, NAME))
    # the write-back is the execution's last task; it ends right after
    system.wait_for("provision to end", lambda: executions(system, "ProvisionStateMachineArn") == ["SUCCEEDED"])

    elbv2 = clients.elbv2()
    [lb] = elbv2.describe_load_balancers()["LoadBalancers"]
    assert lb["DNSName"] == hostname
    assert lb["Scheme"] == "internet-facing"
    assert lb["LoadBalancerName"] == names.load_balancer_name(
        cluster=system.cluster, group=GroupID(namespace=NS, name=NAME), scheme="internet-facing"
    )
    assert tags(lb["LoadBalancerArn"]) == {
        "elbv2.k8s.aws/cluster": system.cluster,
        "ingress.k8s.aws/stack": STACK,
        "ingress.k8s.aws/resource": "LoadBalancer",
    }
    [listener] = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    assert (listener["Protocol"], listener["Port"]) == ("HTTP", 80)
    assert listener["DefaultActions"][0]["FixedResponseConfig"]["StatusCode"] == "404"
    rules = [r for r in elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"] if not r["IsDefault"]]
    assert len(rules) == 1
    [tg] = elbv2.describe_target_groups()["TargetGroups"]
    assert rules[0]["Actions"][0]["ForwardConfig"]["TargetGroups"][0]["TargetGroupArn"] == tg["TargetGroupArn"]
    assert (tg["TargetType"], tg["Protocol"], tg["Port"]) == ("ip", "HTTP", 1)  # LBC uses 1 for a named targetPort
    health = elbv2.describe_target_health(TargetGroupArn=tg["TargetGroupArn"])["TargetHealthDescriptions"]
    assert {(t["Target"]["Id"], t["Target"]["Port"]) for t in health} == {(ip, 80) for ip in pods}
    found = clients.ec2().describe_security_groups(GroupIds=lb["SecurityGroups"])["SecurityGroups"]
    # the managed group and the cluster's shared backend group (LBC's, issue 15)
    [sg] = [g for g in found if g["Description"] != "[k8s] Shared Backend SecurityGroup for LoadBalancer"]
    assert [(p["FromPort"], p["IpRanges"][0]["CidrIp"]) for p in sg["IpPermissions"]] == [(80, "0.0.0.0/0")]
    assert ("Normal", "SuccessfullyReconciled", "Successfully reconciled") in events_for(system, NS, NAME)

    # a frontend NLB (ADR 0012): through the provision state machine's AlbTarget phase;
    # the status lists the ALB's name, then the NLB's, as LBC's does
    net.patch_namespaced_ingress(
        NAME, NS, {"metadata": {"annotations": {"alb.ingress.kubernetes.io/enable-frontend-nlb": "true"}}}
    )

    def two_addresses() -> list[str] | None:
        found = ingress_object(system).get("status", {}).get("loadBalancer", {}).get("ingress") or []
        return [str(i["hostname"]) for i in found] if len(found) == 2 else None

    addresses = system.wait_for("the NLB's address", two_addresses)
    [nlb] = [x for x in elbv2.describe_load_balancers()["LoadBalancers"] if x["Type"] == "network"]
    assert addresses == [hostname, nlb["DNSName"]]
    [nlb_listener] = elbv2.describe_listeners(LoadBalancerArn=nlb["LoadBalancerArn"])["Listeners"]
    [forward] = nlb_listener["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]
    [alb_target] = elbv2.describe_target_health(TargetGroupArn=forward["TargetGroupArn"])["TargetHealthDescriptions"]
    assert (alb_target["Target"]["Id"], alb_target["Target"]["Port"]) == (lb["LoadBalancerArn"], 80)

    # deletion: teardown (the NLB with the rest), then the finalizer goes and so does the Ingress
    net.delete_namespaced_ingress(NAME, NS)
    system.wait_for("the Ingress to be released", lambda: ingress_gone(system, NS, NAME))
    assert tagged_resources(system.cluster) == []
    assert elbv2.describe_load_balancers()["LoadBalancers"] == []
    assert elbv2.describe_target_groups()["TargetGroups"] == []
    system.wait_for("teardown to end", lambda: executions(system, "TeardownStateMachineArn") == ["SUCCEEDED"])


def test_resent_event_and_forced_reconcile_change_nothing(system: LocalSystem) -> None:
    apply(system, ROOT / "examples/2048/2048.yaml")
    system.wait_for("the Ingress address", lambda: ingress_hostname(system, NS, NAME))
    system.wait_for("the queue to drain", lambda: work_queue_idle(system))
    counter = CallCounter()
    try:
        # the same Ingress event again (same resourceVersion): ingest drops it as stale
        before = dict(system.dispatcher.invocations)
        clients.events().put_events(Entries=[ingress_entry(system, ingress_object(system))])  # type: ignore[list-item]  # entry dict
        ingest = system.function("IngestFunction")
        system.wait_for("the re-sent event", lambda: system.dispatcher.invocations[ingest] > before[ingest])
        # and a reconcile forced through the work queue
        reconcile = system.function("ReconcileFunction")
        done = system.dispatcher.invocations[reconcile]
        queues.enqueue(str(system.cloud.deployment.environment["WORK_QUEUE_URL"]), [STACK], cause="test")
        system.wait_for("the forced reconcile", lambda: system.dispatcher.invocations[reconcile] > done)
        system.wait_for("the queue to drain", lambda: work_queue_idle(system))
        calls = counter.snapshot()
        assert CallCounter.mutating(calls) == 0, calls
        # the model is the one applied and no drift was reported: nothing is read (issue 16)
        assert CallCounter.reads(calls) == 0, calls
        assert ("tagging", "GetResources") not in calls
    finally:
        counter.close()
    assert len(clients.elbv2().describe_load_balancers()["LoadBalancers"]) == 1


def test_a_load_balancer_deleted_out_of_band_is_found_missing_and_recreated(system: LocalSystem) -> None:
    system.cloud.aws_events.trail.logging = False  # the reconcile below is what finds it gone
    apply(system, ROOT / "examples/2048/2048.yaml")
    system.wait_for("the Ingress address", lambda: ingress_hostname(system, NS, NAME))
    system.wait_for("the queue to drain", lambda: work_queue_idle(system))
    elbv2 = clients.elbv2()
    [lb] = elbv2.describe_load_balancers()["LoadBalancers"]
    elbv2.delete_load_balancer(LoadBalancerArn=lb["LoadBalancerArn"])
    # drift, as the sweep reports it (fresh): the reconcile reads, and searches by tags
    queues.enqueue(str(system.cloud.deployment.environment["WORK_QUEUE_URL"]), [STACK], cause="test", fresh=True)

    def recreated() -> bool:
        found = elbv2.describe_load_balancers()["LoadBalancers"]
        return len(found) == 1 and found[0]["LoadBalancerArn"] != lb["LoadBalancerArn"]

    system.wait_for("a new load balancer", recreated)
    system.wait_for(
        "the provision execution", lambda: executions(system, "ProvisionStateMachineArn") == ["SUCCEEDED"] * 2
    )
    [again] = elbv2.describe_load_balancers()["LoadBalancers"]
    [listener] = elbv2.describe_listeners(LoadBalancerArn=again["LoadBalancerArn"])["Listeners"]
    assert [r["IsDefault"] for r in elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]] == [False, True]
    assert ingress_hostname(system, NS, NAME) == again["DNSName"]  # moto names it as before


def test_the_demo_runs_twice_in_one_process() -> None:
    lines: list[str] = []
    first = run_demo(ROOT, out=lines.append)
    second = run_demo(ROOT, out=lines.append)
    for result in (first, second):
        assert result["hostname"].endswith(".elb.amazonaws.com")
        assert result["recheck_mutating"] == 0
        assert result["recheck_reads"] > 0  # the re-check did run, and was counted
        assert result["created_mutating"] >= 7  # SG, its ingress rule, TG, targets, LB, listener, rule
        assert result["left"] == []
    assert any(line.startswith("game-2048   alb") and first["hostname"] in line for line in lines)
    # README.md's "The demo" shows what it prints (times, counts, names and ids aside)
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## The demo\n") :]
    shown = section[section.index("\n```\n") + len("\n```\n") :].split("\n```\n", 1)[0]
    assert missing(shown, "\n".join(lines)) == []
