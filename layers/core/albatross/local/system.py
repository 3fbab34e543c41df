"""The whole offline system: local AWS (moto server + the template's resources), the
Kubernetes API double, the dispatcher, and the forwarder as its own process talking to
both over 127.0.0.1, exactly as it would in a cluster."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s

from albatross.aws import clients
from albatross.local import gaps
from albatross.local.cloud import FAKE_CREDENTIALS, LocalCloud, local_cloud
from albatross.local.dispatch import Dispatcher
from albatross.local.kube import ALB_CLASS, KubeDouble, kube_double
from albatross.model import limits

CLUSTER = "albatross-local"
VPC_CIDR = "10.0.0.0/16"


def make_vpc(cluster: str) -> str:
    """A VPC with two public (``kubernetes.io/role/elb``) and two private
    (``kubernetes.io/role/internal-elb``) subnets in two zones."""
    ec2 = clients.ec2()
    vpc = ec2.create_vpc(CidrBlock=VPC_CIDR)["Vpc"]["VpcId"]
    for i, (zone, role) in enumerate(
        [("us-east-1a", "elb"), ("us-east-1b", "elb"), ("us-east-1a", "internal-elb"), ("us-east-1b", "internal-elb")]
    ):
        ec2.create_subnet(
            VpcId=vpc,
            CidrBlock=f"10.0.{200 + i}.0/24",
            AvailabilityZone=zone,
            TagSpecifications=[
                {
                    "ResourceType": "subnet",
                    "Tags": [
                        {"Key": f"kubernetes.io/role/{role}", "Value": "1"},
                        {"Key": f"kubernetes.io/cluster/{cluster}", "Value": "shared"},
                    ],
                }
            ],
        )
    return vpc


def make_node_security_group(cluster: str, vpc_id: str, name: str = "nodes") -> str:
    """A security group for nodes, tagged ``kubernetes.io/cluster/<cluster>`` as EKS
    node groups' are (where backend rules go when an ENI has several groups)."""
    tags: list[Any] = [
        {"ResourceType": "security-group", "Tags": [{"Key": f"kubernetes.io/cluster/{cluster}", "Value": "owned"}]}
    ]
    made = clients.ec2().create_security_group(
        GroupName=name, Description=f"{name} of {cluster}", VpcId=vpc_id, TagSpecifications=tags
    )
    return str(made["GroupId"])


@dataclass
class LocalSystem:
    root: Path
    cloud: LocalCloud
    kube: KubeDouble
    dispatcher: Dispatcher
    forwarder: subprocess.Popen[bytes]
    vpc_id: str
    cluster: str
    log_path: Path
    start_forwarder: Callable[[], subprocess.Popen[bytes]]

    def stop_forwarder(self) -> None:
        self.forwarder.terminate()
        try:
            self.forwarder.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.forwarder.kill()
            self.forwarder.wait()

    def restart_forwarder(self) -> None:
        """Stop the forwarder (SIGTERM) and start a new one, with no memory of the old."""
        self.stop_forwarder()
        self.forwarder = self.start_forwarder()

    def api(self) -> k8s.ApiClient:
        config = k8s.Configuration()
        config.host = self.kube.url
        return k8s.ApiClient(config)

    def function(self, logical: str) -> str:
        """The deployed name of the template's function ``logical`` (``ReconcileFunction``)."""
        return str(self.cloud.deployment.attributes[logical]["Ref"])

    def output(self, name: str) -> Any:
        return self.cloud.deployment.outputs[name]

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float = 60.0, interval: float = 0.2) -> Any:
        """Poll ``check`` until it returns something truthy; raise TimeoutError with ``what``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.forwarder.poll() is not None:
                raise RuntimeError(f"the forwarder exited ({self.forwarder.returncode}); see {self.log_path}")
            value = check()
            if value:
                return value
            time.sleep(interval)
        raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def _kubeconfig(url: str, folder: Path) -> Path:
    path = folder / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "local", "cluster": {"server": url}}],
                "users": [{"name": "local", "user": {}}],
                "contexts": [{"name": "local", "context": {"cluster": "local", "user": "local"}}],
                "current-context": "local",
            }
        )
    )
    return path


@contextmanager
def local_system(
    root: Path,
    *,
    cluster: str = CLUSTER,
    time_scale: float = 0.05,
    work_dir: Path | None = None,
    log_level: str = "WARNING",
    build: Path | None = None,
    forwarder_python: str | None = None,  # the forwarder's interpreter (default: this one), e.g. .venv-forwarder's
    forwarder_env: Mapping[str, str] | None = None,  # its settings beyond the defaults, e.g. RESYNC_SECONDS
    realistic: bool = False,  # AWS's throttling, quotas and provisioning (albatross.local.realistic)
    provisioning_seconds: float = limits.PROVISIONING_SECONDS,  # realistic: a new load balancer's, on AWS's clock
    stack_parameters: Mapping[str, str] | None = None,  # template parameters besides the cluster's, e.g. ApiBudgetShare
) -> Iterator[LocalSystem]:
    """Everything, offline. ``build``: run the functions from that ``make package`` folder
    (:mod:`albatross.local.artifact`) instead of the source tree."""
    with ExitStack() as stack:
        folder = work_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="albatross-local-")))
        folder.mkdir(parents=True, exist_ok=True)
        vpc: list[str] = []

        def parameters() -> dict[str, str]:
            vpc.append(make_vpc(cluster))
            return {**(stack_parameters or {}), "ClusterName": cluster, "VpcId": vpc[0]}

        cloud = stack.enter_context(
            local_cloud(
                root=root,
                parameters=parameters,
                time_scale=time_scale,
                log_level=log_level,
                build=build,
                realistic=realistic,
                provisioning_seconds=provisioning_seconds,
            )
        )
        stack.enter_context(gaps.fill())
        kube = stack.enter_context(kube_double(objects=[ALB_CLASS]))  # the class LBC's chart makes
        dispatcher = Dispatcher(cloud.deployment)
        dispatcher.start()
        stack.callback(dispatcher.stop)
        log_path = folder / "forwarder.log"
        log_file = stack.enter_context(log_path.open("wb"))
        env = {
            **os.environ,
            **FAKE_CREDENTIALS,
            "AWS_ENDPOINT_URL": cloud.endpoint,
            "KUBECONFIG": str(_kubeconfig(kube.url, folder)),
            "CLUSTER_NAME": cluster,
            "EVENT_BUS_NAME": str(cloud.deployment.outputs["EventBusName"]),
            "WRITEBACK_QUEUE_URL": str(cloud.deployment.outputs["WritebackQueueUrl"]),
            "PAYLOAD_BUCKET": str(cloud.deployment.outputs["PayloadBucketName"]),
            "WRITEBACK_WAIT_SECONDS": "1",
            # health and metrics on any free local port: systems run side by side in tests
            "HEALTH_ADDRESS": "127.0.0.1",
            "HEALTH_PORT": "0",
            "LOG_LEVEL": "INFO",
            **(forwarder_env or {}),
        }

        def start_forwarder() -> subprocess.Popen[bytes]:
            return subprocess.Popen(  # noqa: S603  # our own module, fixed arguments; the caller picks the interpreter
                [forwarder_python or sys.executable, "-m", "albatross_forwarder"],
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )

        system = LocalSystem(
            root=root,
            cloud=cloud,
            kube=kube,
            dispatcher=dispatcher,
            forwarder=start_forwarder(),
            vpc_id=vpc[0],
            cluster=cluster,
            log_path=log_path,
            start_forwarder=start_forwarder,
        )
        stack.callback(system.stop_forwarder)
        yield system
