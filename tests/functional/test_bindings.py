"""TargetGroupBindings on the cloud side, against moto (ELBv2, EC2, DynamoDB, SQS): ingest
stores a binding and its Service's changes, and the targets queue's syncs keep a target
group made by hand registered with the Service's ready endpoints, as LBC's binding does
(its docs, guide/targetgroupbinding). Deleting the binding deregisters its targets and
leaves the target group as it was; a binding that cannot be served gets a Warning and
blocks no other; a multi-cluster target group loses only this cluster's targets."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from albatross.aws import clients
from albatross.aws.calls import CallCounter
from albatross.contract import ObjectChange, bindings
from albatross.controller import drift, targets
from albatross.controller.ingest import apply_change
from albatross.controller.settings import Settings
from albatross.local.mends import mend_moto
from albatross.store.table import Store
from tests.functional.test_store import table

CLUSTER = "c1"
NS = "shop"


class World:
    """A VPC, the queues, the state table, and the cluster's objects as ingest has them."""

    def __init__(self) -> None:
        ec2, sqs = clients.ec2(), clients.sqs()
        self.vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        fifo: dict[Any, str] = {"FifoQueue": "true"}
        self.settings = Settings(
            cluster=CLUSTER,
            vpc_id=self.vpc,
            region="us-east-1",
            table="state",
            work_queue_url=sqs.create_queue(QueueName="work.fifo", Attributes=fifo)["QueueUrl"],
            targets_queue_url=sqs.create_queue(QueueName="targets.fifo", Attributes=fifo)["QueueUrl"],
            writeback_queue_url=sqs.create_queue(QueueName="writeback")["QueueUrl"],
            provision_state_machine="",
            teardown_state_machine="",
        )
        self.store: Store = table()
        self.rv = 100
        self.told: list[bindings.BindingWriteBack] = []

    def target_group(self, name: str, *, vpc: str | None = None, tags: Mapping[str, str] | None = None) -> str:
        """A target group made by hand (Terraform's, say): ip targets on port 80."""
        tagged = {bindings.CLUSTER_TAG: CLUSTER} if tags is None else tags
        return str(
            clients.elbv2().create_target_group(
                Name=name,
                Protocol="HTTP",
                Port=80,
                VpcId=vpc or self.vpc,
                TargetType="ip",
                HealthCheckPath="/healthz",
                Tags=[{"Key": k, "Value": v} for k, v in tagged.items()],
            )["TargetGroups"][0]["TargetGroupArn"]
        )

    def send(self, kind: str, obj: dict[str, Any], *, delete: bool = False) -> None:
        """The forwarder's change of ``obj``, through ingest, then every sync it queued."""
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        meta = obj["metadata"]
        change = ObjectChange(
            cluster=CLUSTER,
            kind=kind,
            action="delete" if delete else "upsert",
            key=f"{meta['namespace']}/{meta['name']}" if "namespace" in meta else meta["name"],
            resource_version=str(self.rv),
            object=obj,
        )
        apply_change(change, settings=self.settings, store=self.store, event_id=f"e{self.rv}")
        self.run_queues()

    def run_queues(self) -> None:
        """What the reconcile function does with the targets queue's messages; nothing may
        reach the work queue (a binding is no IngressGroup)."""
        sqs = clients.sqs()
        while messages := sqs.receive_message(QueueUrl=self.settings.targets_queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            for m in messages:
                body = json.loads(m["Body"])
                targets.sync_service(
                    settings=self.settings,
                    store=self.store,
                    group=body["group"],
                    service=body.get("service"),
                    cause=m["MessageId"],
                )
                sqs.delete_message(QueueUrl=self.settings.targets_queue_url, ReceiptHandle=m["ReceiptHandle"])
        assert not sqs.receive_message(QueueUrl=self.settings.work_queue_url).get("Messages")
        while messages := sqs.receive_message(QueueUrl=self.settings.writeback_queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            for m in messages:
                parsed = bindings.parse_binding_writeback(m["Body"])
                assert parsed is not None, m["Body"]
                self.told.append(parsed)
                sqs.delete_message(QueueUrl=self.settings.writeback_queue_url, ReceiptHandle=m["ReceiptHandle"])

    def events(self, binding: str) -> list[tuple[str, str, str]]:
        return [
            (t.event_type, t.reason, t.message) for t in self.told if t.binding == binding and t.type == "bindingEvent"
        ]


def service(name: str = "checkout") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NS, "uid": f"svc-{name}"},
        "spec": {"type": "ClusterIP", "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]},
    }


def endpoints(*addresses: str, name: str = "checkout", not_ready: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": f"{name}-abcde", "namespace": NS, "labels": {"kubernetes.io/service-name": name}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": [a], "conditions": {"ready": a not in not_ready, "serving": True, "terminating": False}}
            for a in addresses
        ],
    }


def binding(name: str, arn: str, *, service_name: str = "checkout", **spec: Any) -> dict[str, Any]:
    """LBC's sample binding: a Service port and a target group ARN."""
    return {
        "apiVersion": "elbv2.k8s.aws/v1beta1",
        "kind": "TargetGroupBinding",
        "metadata": {"name": name, "namespace": NS, "uid": f"uid-{name}", "generation": 1},
        "spec": {"serviceRef": {"name": service_name, "port": 80}, "targetGroupARN": arn, **spec},
    }


def registered(arn: str) -> set[tuple[str, int]]:
    health = clients.elbv2().describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    return {
        (t["Target"]["Id"], t["Target"]["Port"]) for t in health if t.get("TargetHealth", {}).get("State") != "draining"
    }


def as_made(arn: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The target group as the user made it: its description and tags."""
    elbv2 = clients.elbv2()
    found = dict(elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"][0])
    tags = elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"][0]["Tags"]
    return found, {t["Key"]: t["Value"] for t in tags}


@pytest.fixture
def world(moto_endpoint: str) -> World:
    return World()


def test_a_binding_keeps_a_hand_made_target_group_registered_with_its_service(world: World) -> None:
    arn = world.target_group("checkout-tf")
    before = as_made(arn)
    world.send("Service", service())
    world.send("EndpointSlice", endpoints("10.0.1.1", "10.0.1.2", not_ready=("10.0.1.2",)))
    counter = CallCounter()
    try:
        world.send("TargetGroupBinding", binding("checkout", arn))
        # ready endpoints on the target port, as LBC registers ip targets
        assert registered(arn) == {("10.0.1.1", 8080)}
        assert world.events("shop/checkout") == [("Normal", "SuccessfullyReconciled", "Successfully reconciled")]
        assert [t.observed_generation for t in world.told if t.type == "bindingStatus"] == [1]
        assert all(t.uid == "uid-checkout" for t in world.told)

        # endpoints change: the targets follow, through the Service's slices as for an Ingress
        world.send("EndpointSlice", endpoints("10.0.1.1", "10.0.1.2", "10.0.1.3"))
        assert registered(arn) == {("10.0.1.1", 8080), ("10.0.1.2", 8080), ("10.0.1.3", 8080)}
        world.send("EndpointSlice", endpoints("10.0.1.3"))
        assert registered(arn) == {("10.0.1.3", 8080)}

        # the binding goes: its targets go, the target group stays as it was made
        world.send("TargetGroupBinding", binding("checkout", arn), delete=True)
        assert registered(arn) == set()
    finally:
        counter.close()
    assert as_made(arn) == before
    mutating = {(service, op) for (service, op), n in counter.snapshot().items() if n and not op.startswith("Describe")}
    assert {op for service, op in mutating if service == "elasticloadbalancing"} <= {
        "RegisterTargets",
        "DeregisterTargets",
    }
    # later endpoint changes of the Service no longer touch it
    world.send("EndpointSlice", endpoints("10.0.1.4"))
    assert registered(arn) == set()


def test_bindings_that_cannot_be_served_are_told_why_and_block_no_other(world: World) -> None:
    other_vpc = clients.ec2().create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    bad = {
        "other-vpc": (world.target_group("other-vpc", vpc=other_vpc), "in VPC"),
        "untagged": (
            world.target_group("untagged", tags={"team": "shop"}),
            f"not tagged {bindings.CLUSTER_TAG}={CLUSTER}",
        ),
        "ingress-tg": (
            world.target_group("ingress-tg", tags={bindings.CLUSTER_TAG: CLUSTER, "ingress.k8s.aws/stack": "shop/web"}),
            "belongs to a load balancer's stack",
        ),
        "gone": (world.target_group("gone-tg").replace("gone-tg", "nothere"), "not found"),
    }
    good = world.target_group("good-tf")
    world.send("Service", service())
    world.send("EndpointSlice", endpoints("10.0.1.1"))
    for name, (arn, _) in bad.items():
        world.send("TargetGroupBinding", binding(name, arn))
    world.send("TargetGroupBinding", binding("good", good))
    for name, (arn, why) in bad.items():
        ((kind, reason, message),) = world.events(f"shop/{name}")
        assert (kind, reason) == ("Warning", bindings.INVALID), name
        assert why in message, message
        if why != "not found":
            assert registered(arn) == set()
    assert {t.binding for t in world.told if t.type == "bindingStatus"} == {"shop/good"}
    assert registered(good) == {("10.0.1.1", 8080)}
    # the good one keeps following its endpoints while the bad ones stay as they are
    world.send("EndpointSlice", endpoints("10.0.1.2"))
    assert registered(good) == {("10.0.1.2", 8080)}


def test_a_binding_without_its_service_deregisters_and_says_backend_not_found(world: World) -> None:
    arn = world.target_group("checkout-tf")
    world.send("Service", service())
    world.send("EndpointSlice", endpoints("10.0.1.1"))
    world.send("TargetGroupBinding", binding("checkout", arn))
    assert registered(arn) == {("10.0.1.1", 8080)}
    world.send("Service", service(), delete=True)
    assert registered(arn) == set()
    assert ("Warning", "BackendNotFound", "Service shop/checkout not found") in world.events("shop/checkout")


def test_a_multi_cluster_target_group_loses_only_this_clusters_targets(world: World) -> None:
    arn = world.target_group("shared-tf")
    # another cluster's pod, registered by that cluster's controller
    clients.elbv2().register_targets(TargetGroupArn=arn, Targets=[{"Id": "10.9.0.9", "Port": 8080}])
    world.send("Service", service())
    world.send("EndpointSlice", endpoints("10.0.1.1", "10.0.1.2"))
    world.send("TargetGroupBinding", binding("checkout", arn, multiClusterTargetGroup=True))
    assert registered(arn) == {("10.9.0.9", 8080), ("10.0.1.1", 8080), ("10.0.1.2", 8080)}
    world.send("EndpointSlice", endpoints("10.0.1.2"))
    assert registered(arn) == {("10.9.0.9", 8080), ("10.0.1.2", 8080)}
    world.send("TargetGroupBinding", binding("checkout", arn, multiClusterTargetGroup=True), delete=True)
    assert registered(arn) == {("10.9.0.9", 8080)}


def test_without_multi_cluster_the_binding_owns_the_target_group(world: World) -> None:
    arn = world.target_group("owned-tf")
    clients.elbv2().register_targets(TargetGroupArn=arn, Targets=[{"Id": "10.9.0.9", "Port": 8080}])
    world.send("Service", service())
    world.send("EndpointSlice", endpoints("10.0.1.1"))
    world.send("TargetGroupBinding", binding("checkout", arn))
    # LBC's default: "the controller assumes full control over the TargetGroup"
    assert registered(arn) == {("10.0.1.1", 8080)}


def test_a_binding_held_by_lbcs_finalizer_is_released_when_deleted(world: World) -> None:
    arn = world.target_group("checkout-tf")
    world.send("Service", service())
    world.send("EndpointSlice", endpoints("10.0.1.1"))
    kept = binding("checkout", arn)
    kept["metadata"]["finalizers"] = ["elbv2.k8s.aws/resources"]  # LBC's, left when LBC went
    world.send("TargetGroupBinding", kept)
    assert registered(arn) == {("10.0.1.1", 8080)}
    kept["metadata"]["deletionTimestamp"] = "2026-12-06T12:00:00Z"
    world.send("TargetGroupBinding", kept)
    assert registered(arn) == set()


def node(name: str, instance: str, *, pool: str = "web", ready: bool = True) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"pool": pool}},
        "spec": {"providerID": f"aws:///us-east-1a/{instance}"},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def test_an_instance_binding_registers_the_selected_nodes_on_the_services_node_port(world: World) -> None:
    subnet = clients.ec2().create_subnet(VpcId=world.vpc, CidrBlock="10.0.9.0/24")["Subnet"]["SubnetId"]
    one, two, other = (
        str(i["InstanceId"])
        for i in clients.ec2().run_instances(ImageId="ami-12345678", MinCount=3, MaxCount=3, SubnetId=subnet)[
            "Instances"
        ]
    )
    made = clients.elbv2().create_target_group(
        Name="nodes-tf",
        Protocol="HTTP",
        Port=80,
        VpcId=world.vpc,
        TargetType="instance",
        Tags=[{"Key": bindings.CLUSTER_TAG, "Value": CLUSTER}],
    )
    arn = made["TargetGroups"][0]["TargetGroupArn"]
    svc = service()
    svc["spec"] = {"type": "NodePort", "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080}]}
    world.send("Service", svc)
    for name, instance, pool in (("a", one, "web"), ("b", two, "web"), ("c", other, "batch")):
        world.send("Node", node(name, instance, pool=pool))
    world.send("TargetGroupBinding", binding("nodes", arn, nodeSelector={"matchLabels": {"pool": "web"}}))
    # LBC: instance targets on the Service port's NodePort, the nodes the selector picks
    assert registered(arn) == {(one, 30080), (two, 30080)}
    # a node that stops serving leaves the target group, through the Node change alone
    world.send("Node", node("b", two, ready=False))
    assert registered(arn) == {(one, 30080)}


def test_a_bindings_networking_rules_are_made_and_revoked_with_it(world: World) -> None:
    ec2 = clients.ec2()
    subnet = ec2.create_subnet(VpcId=world.vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    nodes = ec2.create_security_group(GroupName="nodes", Description="nodes", VpcId=world.vpc)["GroupId"]
    balancer = ec2.create_security_group(GroupName="alb-tf", Description="the user's ALB", VpcId=world.vpc)["GroupId"]
    ec2.create_network_interface(SubnetId=subnet, PrivateIpAddress="10.0.1.1", Groups=[nodes])
    arn = world.target_group("checkout-tf")
    world.send("Service", service())
    world.send("EndpointSlice", endpoints("10.0.1.1"))
    networking = {"ingress": [{"from": [{"securityGroup": {"groupID": balancer}}], "ports": [{"port": 8080}]}]}
    with mend_moto():  # moto then reports a source group rule's description, as EC2 does
        world.send("TargetGroupBinding", binding("checkout", arn, networking=networking))
        assert registered(arn) == {("10.0.1.1", 8080)}
        # LBC's networking: the source may reach the target's port on the group guarding it
        assert sources(nodes) == {(8080, balancer)}
        world.send("TargetGroupBinding", binding("checkout", arn, networking=networking), delete=True)
        assert sources(nodes) == set()
    assert registered(arn) == set()
    assert ec2.describe_security_groups(GroupIds=[balancer])["SecurityGroups"]  # the user's group stays


def sources(group: str) -> set[tuple[int, str]]:
    rules = clients.ec2().describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])
    return {
        (r["FromPort"], r["ReferencedGroupInfo"]["GroupId"])
        for r in rules["SecurityGroupRules"]
        if not r.get("IsEgress") and r.get("ReferencedGroupInfo")
    }


def test_the_drift_sweep_brings_back_a_target_deregistered_by_hand(world: World) -> None:
    arn = world.target_group("checkout-tf")
    world.send("Service", service())
    world.send("EndpointSlice", endpoints("10.0.1.1", "10.0.1.2"))
    world.send("TargetGroupBinding", binding("checkout", arn))
    clients.elbv2().deregister_targets(TargetGroupArn=arn, Targets=[{"Id": "10.0.1.2", "Port": 8080}])
    # an endpoint change that leaves the ready set as it was trusts the digest: nothing is read
    world.send("EndpointSlice", endpoints("10.0.1.1", "10.0.1.2"))
    assert registered(arn) == {("10.0.1.1", 8080)}
    found = drift.sweep(settings=world.settings, store=world.store, run_id="r1")
    assert found["bindings"] == ["binding:shop/checkout"]
    world.run_queues()
    assert registered(arn) == {("10.0.1.1", 8080), ("10.0.1.2", 8080)}


def test_a_binding_may_name_its_target_group_by_name(world: World) -> None:
    arn = world.target_group("checkout-tf")
    world.send("Service", service())
    world.send("EndpointSlice", endpoints("10.0.1.1"))
    by_name = binding("checkout", "")
    by_name["spec"] = {"serviceRef": {"name": "checkout", "port": "http"}, "targetGroupName": "checkout-tf"}
    world.send("TargetGroupBinding", by_name)
    assert registered(arn) == {("10.0.1.1", 8080)}
    missing = binding("missing", "")
    missing["spec"] = {"serviceRef": {"name": "checkout", "port": 80}, "targetGroupName": "no-such-tg"}
    world.send("TargetGroupBinding", missing)
    ((kind, reason, message),) = world.events("shop/missing")
    assert (kind, reason) == ("Warning", bindings.INVALID)
    assert "target group named no-such-tg not found" in message


def test_one_binding_per_target_group_unless_all_share_it(world: World) -> None:
    arn = world.target_group("checkout-tf")
    world.send("Service", service())
    world.send("Service", service("other"))
    world.send("EndpointSlice", endpoints("10.0.1.1"))
    world.send("EndpointSlice", endpoints("10.0.2.1", name="other"))
    world.send("TargetGroupBinding", binding("first", arn))
    world.send("TargetGroupBinding", binding("second", arn, service_name="other"))
    # LBC's validator: "TargetGroup <arn> is already bound to TargetGroupBinding <ns/name>"
    assert world.events("shop/second") == [
        ("Warning", bindings.INVALID, f"TargetGroup {arn} is already bound to TargetGroupBinding shop/first")
    ]
    assert registered(arn) == {("10.0.1.1", 8080)}
    # the first goes: the second may have it
    world.send("TargetGroupBinding", binding("first", arn), delete=True)
    world.send("TargetGroupBinding", binding("second", arn, service_name="other"))
    assert registered(arn) == {("10.0.2.1", 8080)}
    world.send("TargetGroupBinding", binding("second", arn, service_name="other"), delete=True)

    # shared: both bindings register, each deregisters only its own
    world.send("TargetGroupBinding", binding("first", arn, multiClusterTargetGroup=True))
    world.send("TargetGroupBinding", binding("second", arn, service_name="other", multiClusterTargetGroup=True))
    assert registered(arn) == {("10.0.1.1", 8080), ("10.0.2.1", 8080)}
    world.send("EndpointSlice", endpoints("10.0.1.2"))
    assert registered(arn) == {("10.0.1.2", 8080), ("10.0.2.1", 8080)}
    # one that would own it is refused while they share it
    world.send("TargetGroupBinding", binding("third", arn))
    assert world.events("shop/third")[0][2].startswith(
        f"TargetGroup {arn} is already bound to TargetGroupBinding shop/"
    )
    world.send("TargetGroupBinding", binding("first", arn, multiClusterTargetGroup=True), delete=True)
    assert registered(arn) == {("10.0.2.1", 8080)}
