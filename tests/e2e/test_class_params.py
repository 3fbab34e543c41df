"""IngressClassParams end to end: the forwarder sends the class and its parameters, and
the Ingress of that class is built with them (they win over its annotations)."""

from __future__ import annotations

from kubernetes import client as k8s
from kubernetes import utils

from albatross.aws import clients
from albatross.local.demo import ingress_hostname
from albatross.local.system import LocalSystem
from tests.e2e.test_slice import ROOT
from tests.k8s_typing import body


def test_the_class_parameters_shape_the_load_balancer(system: LocalSystem) -> None:
    api = system.api()
    k8s.CustomObjectsApi(api).create_cluster_custom_object(
        "elbv2.k8s.aws",
        "v1beta1",
        "ingressclassparams",
        body(
            {
                "apiVersion": "elbv2.k8s.aws/v1beta1",
                "kind": "IngressClassParams",
                "metadata": {"name": "internal-only"},
                "spec": {"scheme": "internal", "tags": [{"key": "tier", "value": "private"}]},
            }
        ),
    )
    k8s.NetworkingV1Api(api).create_ingress_class(
        body(
            {
                "metadata": {"name": "alb-internal"},
                "spec": {
                    "controller": "ingress.k8s.aws/alb",
                    "parameters": {"apiGroup": "elbv2.k8s.aws", "kind": "IngressClassParams", "name": "internal-only"},
                },
            }
        )
    )
    manifests = (
        (ROOT / "examples/2048/2048.yaml")
        .read_text()
        .replace("ingressClassName: alb", "ingressClassName: alb-internal")
    )
    path = system.log_path.parent / "2048-internal.yaml"
    path.write_text(manifests)
    utils.create_from_yaml(api, str(path))  # type: ignore[no-untyped-call]  # untyped in the client
    system.wait_for("the address", lambda: ingress_hostname(system, "game-2048", "game-2048"))
    [lb] = clients.elbv2().describe_load_balancers()["LoadBalancers"]
    assert lb["Scheme"] == "internal"  # the annotation says internet-facing
    tags = clients.elbv2().describe_tags(ResourceArns=[lb["LoadBalancerArn"]])["TagDescriptions"][0]["Tags"]
    assert {"Key": "tier", "Value": "private"} in tags
