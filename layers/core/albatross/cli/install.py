"""``albatross install`` and ``albatross uninstall``: the stack and the forwarder, in order.

Install first checks, changing nothing: that kubectl's context is the cluster (EKS
DescribeCluster's endpoint is kubectl's server), that ``--namespace`` exists when it is
not the base's own, that the overlay folder holds nothing install did not write, and that
the stack is absent or deployed for this cluster. Then ``sam deploy`` (the template
``make package`` built, or a release's packaged one), the stack's outputs, the
forwarder's kustomize overlay (settings from the outputs, the image), the EKS Pod
Identity association of the forwarder's ServiceAccount with the stack's role, ``kubectl
apply -k``, ``kubectl rollout status``, then a wait until a Resync from the new
forwarder reaches ingest (ingest records the last Resync in the state table:
``forwarder#resync``; the new forwarder is the Lease holder that is a pod of the finished
rollout, and its Resync is one recorded at or after it took the Lease).

Uninstall checks the context too, reads the stack it will delete (never outputs from
elsewhere), and refuses while the cluster is in use: a load balancer tagged for it (the
tagging API, and elbv2 itself in the stack's VPC, as the tagging API lags), an
IngressGroup with members in the state table, a provision or teardown execution running
(``--force`` goes ahead and says what stays). It refuses an overlay that would delete a
Namespace other than the base's own. Then ``kubectl delete -k``, the association, the
claim-check objects and ``sam delete``.

``--dry-run`` needs no AWS access: every command (as the ``sam``, ``kubectl`` or ``aws``
line that does the same) and every file is printed, with ``<placeholders>`` for what only
AWS can tell. External tools run as subprocesses from the repository root; AWS calls go
through :mod:`albatross.aws.clients`. Failures are one line (exit 1).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import re
import shlex
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import yaml

from albatross.aws import clients, discovery
from albatross.aws.errors import AlbatrossError, aws_errors
from albatross.cli import stack
from albatross.cli.stack import CliError
from albatross.model.names import LEGACY_TAG_CLUSTER, TAG_CLUSTER, TAG_STACK
from albatross.store.table import RESYNC_PK, Store

if TYPE_CHECKING:
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

TEMPLATE = Path(".aws-sam/build/template.yaml")  # what `make package` builds, laid out as `sam build` does
BASE = Path("forwarder/deploy")  # the forwarder's kustomize base
IMAGE_NAME = "albatross-forwarder"  # the image name the base's Deployment uses (kustomize images: name)
CONFIG_MAP = "albatross-forwarder-config"  # the base's configMapGenerator
IRSA_COMPONENT = "components/irsa"  # under the base: annotates the ServiceAccount with a role
IRSA_ROLE_CONFIG = "albatross-forwarder-role"  # the ConfigMap the component reads the role from
IRSA_ROLE_FILE = "forwarder-role.yaml"
OVERLAY_FILE = "kustomization.yaml"
WRITTEN_BY = "albatross install"  # every file install writes names it in its first line
PART_OF = ("app.kubernetes.io/part-of", "albatross")  # the base labels everything it makes with it
DEPLOYMENT = "albatross-forwarder"
CONTEXT_QUERY = "jsonpath={.clusters[0].cluster.server}"  # kubectl config view --minify: the context's server
DEFAULT_WAIT = 300.0
POLL_SECONDS = 2.0
PROGRESS_SECONDS = 15.0
TAGS_PER_CALL = 20  # elbv2 DescribeTags takes at most 20 ARNs

# the clock of the waits (tests replace both)
monotonic: Callable[[], float] = time.monotonic
sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class Setting:
    """One forwarder.env variable and the stack output it comes from."""

    env: str
    output: str
    region_of: bool = False  # the value is the region field of the output (an ARN)

    def value(self, outputs: Mapping[str, str]) -> str:
        found = outputs[self.output]
        if found.startswith("<"):  # a dry run's placeholder
            return f"<the region of {self.output} from the stack outputs>" if self.region_of else found
        return found.split(":")[3] if self.region_of else found


# The forwarder's settings that come from the stack (forwarder/deploy/forwarder.env and
# albatross_forwarder.main name them); every other variable keeps the base's value.
# INGRESS_CLASS is install's --ingress-class, which is also the stack's IngressClass.
FORWARDER_SETTINGS = (
    Setting("CLUSTER_NAME", "ClusterName"),
    Setting("EVENT_BUS_NAME", "EventBusName"),
    Setting("WRITEBACK_QUEUE_URL", "WritebackQueueUrl"),
    Setting("PAYLOAD_BUCKET", "PayloadBucketName"),
    # the stack's region: the SDK in the pod needs one whichever credentials webhook runs
    Setting("AWS_REGION", "EventBusArn", region_of=True),
)
NEEDED_OUTPUTS = ("StateTableName", "ForwarderRoleArn", *dict.fromkeys(s.output for s in FORWARDER_SETTINGS))
UNINSTALL_OUTPUTS = (
    "ClusterName",
    "StateTableName",
    "ForwarderRoleArn",
    "PayloadBucketName",
    "ProvisionStateMachineArn",
    "TeardownStateMachineArn",
)


class Eks(Protocol):
    """The EKS calls install and uninstall make: boto3's client, or a test's double
    (keyword arguments as the API names them)."""

    def describe_cluster(self, **kwargs: Any) -> Any: ...

    def list_pod_identity_associations(self, **kwargs: Any) -> Any: ...

    def describe_pod_identity_association(self, **kwargs: Any) -> Any: ...

    def create_pod_identity_association(self, **kwargs: Any) -> Any: ...

    def delete_pod_identity_association(self, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class DeployedStack:
    """What CloudFormation says of a stack: its parameters and its outputs."""

    parameters: dict[str, str]
    outputs: dict[str, str]


@dataclass(frozen=True)
class Leader:
    """The forwarder's Lease holder: its pod, and when it took the Lease (epoch seconds)."""

    pod: str
    since: float


def image_reference(ref: str) -> dict[str, str]:
    """The kustomize ``images:`` entry for ``REGISTRY/NAME[:TAG][@sha256:DIGEST]``
    (argparse type: a malformed reference is a usage error)."""
    name, _, digest = ref.partition("@")
    repository, tag = name, ""
    last = name.rsplit("/", 1)[-1]
    if ":" in last:  # a tag (a colon before the last slash is a registry port)
        repository, tag = name.rsplit(":", 1)
    if not repository or (digest and not re.fullmatch(r"sha256:[0-9a-f]{64}", digest)) or ("@" in ref and not digest):
        raise argparse.ArgumentTypeError(f"not an image reference: {ref!r} (REGISTRY/NAME:TAG or NAME@sha256:DIGEST)")
    entry = {"name": IMAGE_NAME, "newName": repository}
    if digest:
        entry["digest"] = digest  # a digest pins the image; a tag beside it is not used
    elif tag:
        entry["newTag"] = tag
    return entry


def add_parsers(sub: Any) -> None:
    """``install`` and ``uninstall`` on the CLI's subcommand parsers."""
    install = sub.add_parser(
        "install", help="deploy the stack, install the forwarder in the cluster, wait until they talk"
    )
    uninstall = sub.add_parser(
        "uninstall", help="remove the forwarder and the stack (refused while the cluster has load balancers)"
    )
    for command in (install, uninstall):
        command.add_argument("--cluster", required=True, help="the EKS cluster (the elbv2.k8s.aws/cluster tag value)")
        command.add_argument("--region", help="the AWS region (default: your AWS configuration's)")
        command.add_argument(
            "--context", help="the kubectl context of the cluster (default: kubectl's current context)"
        )
        command.add_argument(
            "--namespace",
            default="albatross",
            help="the forwarder's namespace (default: %(default)s, which install creates; another must exist)",
        )
        command.add_argument(
            "--overlay", type=Path, help="the forwarder's kustomize overlay (default: deploy/overlays/CLUSTER)"
        )
        command.add_argument(
            "--dry-run", action="store_true", help="print every command and file; run and write nothing"
        )
        # the stack is always read from CloudFormation: outputs from a file could name
        # another stack than the one deployed or deleted
        command.add_argument(
            "--stack-name", help="the stack (default: samconfig.toml's; one stack per cluster: another needs its own)"
        )
        command.add_argument("--endpoint-url", help="an AWS endpoint instead of AWS's (moto, say)")
    install.add_argument("--vpc-id", help="the cluster's VPC (default: EKS DescribeCluster's)")
    install.add_argument(
        "--template",
        type=Path,
        default=TEMPLATE,
        help="the template to deploy (default: %(default)s, what make package builds; or a release's packaged one)",
    )
    install.add_argument(
        "--image", type=image_reference, help="the forwarder image: REGISTRY/albatross-forwarder:TAG (or @sha256:...)"
    )
    install.add_argument("--ingress-class", default="alb", help="the IngressClass to manage (default: %(default)s)")
    install.add_argument(
        "--forwarder-role-arn",
        help="IRSA: your role for the forwarder (the stack then makes none, and no Pod Identity association is made)",
    )
    install.add_argument(
        "--confirm-changeset", action="store_true", help="let sam deploy ask before it changes the stack"
    )
    install.add_argument(
        "--wait",
        type=float,
        default=DEFAULT_WAIT,
        metavar="SECONDS",
        help="how long to wait for the rollout and the new forwarder's Resync (default: %(default).0f; 0: do not wait)",
    )
    uninstall.add_argument(
        "--force",
        action="store_true",
        help="go ahead while load balancers, IngressGroups or executions exist: they stay, unmanaged",
    )


def _quote(argv: Sequence[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)


def _same_server(a: str, b: str) -> bool:
    return a.strip().rstrip("/").lower() == b.strip().rstrip("/").lower()


def _micro_time(value: str) -> float:
    """Epoch seconds of a Kubernetes MicroTime (``2026-01-01T00:00:00.000000Z``)."""
    return datetime.datetime.fromisoformat(value).timestamp()


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


def _name(arn: str) -> str:
    """A load balancer's name from its ARN (``...:loadbalancer/app/NAME/ID``)."""
    return arn.split("/")[-2]


def _chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


class _Run:
    """What both commands share: the repository, the options, how commands run or are shown."""

    def __init__(self, args: argparse.Namespace, *, root: Path, out: Callable[[str], None], eks: Eks | None) -> None:
        self.args, self.root, self.out, self._eks = args, root, out, eks
        self.dry = bool(args.dry_run)
        self.cluster: str = args.cluster
        self.region: str | None = args.region
        self.context: str | None = args.context
        self.namespace: str = args.namespace
        self.stack_name: str = args.stack_name or stack.default_stack_name(root)
        # shown and used relative to the repository root, where the tools run
        overlay: Path = Path.cwd() / args.overlay if args.overlay else root / "deploy" / "overlays" / self.cluster
        self.overlay = Path(os.path.relpath(overlay, root)) if overlay.is_relative_to(root) else overlay
        base = yaml.safe_load((root / BASE / "kustomization.yaml").read_text())
        self.base_namespace = str(base.get("namespace") or "")
        self.step = 0
        if self.dry:
            return  # no AWS client is made
        if args.endpoint_url:
            os.environ["AWS_ENDPOINT_URL"] = args.endpoint_url
            clients.reset()
        if self.region:
            os.environ["AWS_DEFAULT_REGION"] = self.region
            os.environ.pop("AWS_REGION", None)  # it would win over AWS_DEFAULT_REGION in the SDK
            clients.reset()

    @property
    def eks(self) -> Eks:
        if self._eks is None:
            self._eks = clients.client("eks")
        return self._eks

    @property
    def own_namespace(self) -> bool:
        """Whether the forwarder goes to the base's namespace, which the base creates."""
        return self.namespace == self.base_namespace

    def header(self, text: str) -> None:
        self.step += 1
        self.out(f"\n# {self.step}. {text}" if self.dry else f"[{self.step}] {text}")

    def aws_line(self, *argv: str, then: str = "") -> str:
        """An aws CLI line; ``then``: words already quoted for the shell."""
        words = [_quote(["aws", *argv]), then, _quote(["--region", self.region]) if self.region else ""]
        return " ".join(w for w in words if w)

    def kubectl(self, *argv: str) -> list[str]:
        """A kubectl command line, for ``--context``'s cluster when one is given."""
        return ["kubectl", *(["--context", self.context] if self.context else []), *argv]

    def command(self, argv: list[str], *, capture: bool = False) -> str:
        """Run an external tool from the repository root (dry run: print it)."""
        self.out(_quote(argv))
        if self.dry:
            return ""
        done = self._run(argv, capture=capture)
        if capture:
            for line in (done.stdout + done.stderr).splitlines():
                self.out(f"  {line}")
        if done.returncode != 0:
            raise CliError(f"{argv[0]} {self._verb(argv)} failed (exit {done.returncode}); its output above says why")
        return done.stdout if capture else ""

    def read(self, argv: list[str]) -> str:
        """Run a read-only tool quietly and return its output (a failure says why in one line)."""
        done = self._run(argv, capture=True)
        if done.returncode != 0:
            why = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
            raise CliError(f"{_quote(argv)} failed: {why}")
        return done.stdout

    def _run(self, argv: list[str], *, capture: bool) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(  # noqa: S603  # sam and kubectl with our own arguments, no shell
                argv, cwd=self.root, check=False, text=True, capture_output=capture
            )
        except FileNotFoundError as e:
            raise CliError(f"{argv[0]} is not on PATH: install it (README, Deploy to AWS)") from e

    @staticmethod
    def _verb(argv: Sequence[str]) -> str:
        rest = list(argv[1:])
        if rest[:1] == ["--context"]:
            rest = rest[2:]
        return rest[0] if rest else ""

    # --- the checks before anything changes ---------------------------------------------

    def check_context(self) -> dict[str, Any]:
        """Refuse unless kubectl talks to the cluster EKS names ``--cluster``: a forwarder
        for cluster A in cluster B would make B's Resyncs delete A's load balancers.
        Returns EKS DescribeCluster's answer (a dry run: an empty one)."""
        which = f"--context {self.context}" if self.context else "kubectl's current context"
        self.header(f"check that {which} is cluster {self.cluster}")
        view = self.kubectl("config", "view", "--minify", "-o", CONTEXT_QUERY)
        if self.dry:
            self.out(
                self.aws_line(
                    "eks",
                    "describe-cluster",
                    "--name",
                    self.cluster,
                    "--query",
                    "cluster.endpoint",
                    then="--output text",
                )
            )
            self.out(_quote(view))
            self.out("  (the two must be the same server, else stop: --context names another kubectl context)")
            return {}
        with aws_errors():
            found: dict[str, Any] = self.eks.describe_cluster(name=self.cluster)["cluster"]
        endpoint = str(found.get("endpoint") or "")
        server = self.read(view).strip()
        if not endpoint or not _same_server(endpoint, server):
            raise CliError(
                f"{which} is not cluster {self.cluster}: kubectl talks to {server or 'no server'}, EKS says "
                f"{self.cluster} is {endpoint or 'not yet reachable'}; run aws eks update-kubeconfig --name "
                f"{self.cluster} (or pass --context)"
            )
        self.out(f"  {server}")
        return found

    def describe_stack(self) -> DeployedStack | None:
        """The stack's parameters and outputs, or None when there is no such stack."""
        try:
            with aws_errors():
                found = clients.client("cloudformation").describe_stacks(StackName=self.stack_name)["Stacks"][0]
        except AlbatrossError as e:
            if "does not exist" in str(e):
                return None
            raise
        return DeployedStack(
            parameters={str(p["ParameterKey"]): str(p.get("ParameterValue", "")) for p in found.get("Parameters", [])},
            outputs={str(o["OutputKey"]): str(o["OutputValue"]) for o in found.get("Outputs", [])},
        )

    def refuse_another_cluster(self, deployed: DeployedStack) -> None:
        serves = deployed.parameters.get("ClusterName") or deployed.outputs.get("ClusterName")
        if serves != self.cluster:
            raise CliError(
                f"stack {self.stack_name} serves cluster {serves}, not {self.cluster}: pass --stack-name "
                f"albatross-{self.cluster} (one stack per cluster; every albatross command for this cluster then "
                "takes that --stack-name)"
            )

    def service_account(self) -> str:
        """The forwarder's ServiceAccount, as the base names it."""
        for doc in yaml.safe_load_all((self.root / BASE / "rbac.yaml").read_text()):
            if doc and doc.get("kind") == "ServiceAccount":
                return str(doc["metadata"]["name"])
        raise CliError(f"{BASE / 'rbac.yaml'} names no ServiceAccount")

    def association(self, eks: Eks, service_account: str) -> tuple[str, str] | None:
        """(association id, role ARN) of the ServiceAccount's Pod Identity association."""
        with aws_errors():
            token: dict[str, str] = {}
            while True:
                page = eks.list_pod_identity_associations(
                    clusterName=self.cluster, namespace=self.namespace, serviceAccount=service_account, **token
                )
                for found in page.get("associations", []):
                    described = eks.describe_pod_identity_association(
                        clusterName=self.cluster, associationId=found["associationId"]
                    )["association"]
                    return str(described["associationId"]), str(described["roleArn"])
                if not page.get("nextToken"):
                    return None
                token = {"nextToken": str(page["nextToken"])}


class _Install(_Run):
    def run(self) -> int:
        template = self.template()
        if self.dry:
            self.out(
                "albatross install --dry-run: nothing is run or written. Commands run from the "
                "repository root; <...> stands for what only AWS can tell."
            )
        elif not (self.root / template).exists():
            raise CliError(
                f"no {template}: run make package first, or pass --template (README, Deploy to AWS)"
                if template == TEMPLATE
                else f"no {template} (--template)"
            )
        found = self.check_context()
        vpc = self.vpc(found)
        self.check_namespace()
        self.check_overlay()
        self.check_stack()
        self.deploy(vpc, template)
        self.header("read the stack's outputs")
        outputs = self.outputs()
        self.header(f"write the forwarder's overlay {self.overlay}")
        self.write_overlay(outputs)
        service_account = self.service_account()
        if self.args.forwarder_role_arn:
            self.header("IRSA: no Pod Identity association (the overlay annotates the ServiceAccount instead)")
        else:
            self.header(f"associate the stack's role with the ServiceAccount {self.namespace}/{service_account}")
            self.associate(service_account, outputs["ForwarderRoleArn"])
        self.header("install the forwarder")
        started = monotonic()
        self.command(self.kubectl("apply", "-k", str(self.overlay)), capture=True)
        self.wait(None if self.dry else Store(outputs["StateTableName"]), outputs, started=started)
        return 0

    def template(self) -> Path:
        """``--template`` as the tools see it, from the repository root."""
        given: Path = self.args.template
        if given == TEMPLATE or given.is_absolute():
            return given
        found = Path.cwd() / given
        return Path(os.path.relpath(found, self.root)) if found.is_relative_to(self.root) else found

    def vpc(self, found: Mapping[str, Any]) -> str:
        if self.args.vpc_id:
            return str(self.args.vpc_id)
        if self.dry:
            self.out(
                self.aws_line(
                    "eks",
                    "describe-cluster",
                    "--name",
                    self.cluster,
                    "--query",
                    "cluster.resourcesVpcConfig.vpcId",
                    then="--output text",
                )
            )
            self.out("  (the cluster's VPC, for the stack)")
            return "<vpcId from aws eks describe-cluster>"
        vpc = str(found.get("resourcesVpcConfig", {}).get("vpcId", ""))
        if not vpc:
            raise CliError(f"EKS says nothing of cluster {self.cluster}'s VPC: pass --vpc-id")
        self.out(f"  VPC {vpc}")
        return vpc

    def check_namespace(self) -> None:
        """Another namespace than the base's is the user's: it must exist, and install
        neither creates, labels nor (at uninstall) deletes it."""
        if self.own_namespace:
            return
        self.header(f"check that the namespace {self.namespace} exists (install does not create or change it)")
        argv = self.kubectl("get", "namespace", self.namespace, "-o", "name")
        if self.dry:
            self.out(_quote(argv))
            return
        done = self._run(argv, capture=True)
        if done.returncode != 0:
            raise CliError(
                f"no namespace {self.namespace} in cluster {self.cluster} ({_quote(argv)}: "
                f"{(done.stderr.strip().splitlines() or ['not found'])[-1]}): create it first, or leave out "
                f"--namespace for the forwarder's own, {self.base_namespace}"
            )
        self.out(f"  {done.stdout.strip()}")

    def check_overlay(self) -> None:
        """Refuse to overwrite a file install did not write (a hand-made overlay, say)."""
        if self.dry:
            return
        for name in (OVERLAY_FILE, IRSA_ROLE_FILE):
            path = self.root / self.overlay / name
            if path.exists() and not _written_by_install(path):
                raise CliError(
                    f"{self.overlay / name} exists and albatross install did not write it: pass --overlay with "
                    "another folder, or move the file away"
                )

    def check_stack(self) -> None:
        self.header(f"check the stack {self.stack_name}: absent, or deployed for cluster {self.cluster}")
        if self.dry:
            self.out(self.aws_line("cloudformation", "describe-stacks", "--stack-name", self.stack_name))
            self.out("  (a stack of another cluster is refused: one stack per cluster, --stack-name)")
            return
        deployed = self.describe_stack()
        if deployed is None:
            self.out("  absent: sam deploy creates it")
            return
        self.refuse_another_cluster(deployed)
        self.out(f"  deployed for cluster {self.cluster}: sam deploy updates it")

    def deploy(self, vpc: str, template: Path) -> None:
        self.header(f"deploy the stack {self.stack_name}")
        # Always named: sam deploy keeps a parameter's previous value when it is not
        # given, so leaving ForwarderRoleArn out would keep an earlier IRSA role for good.
        # SAM CLI takes an empty value only quoted (Key="").
        role = self.args.forwarder_role_arn or '""'
        overrides = [
            f"ClusterName={self.cluster}",
            f"VpcId={vpc}",
            f"IngressClass={self.args.ingress_class}",
            f"ForwarderRoleArn={role}",
        ]
        self.command(
            [
                "sam",
                "deploy",
                "--template-file",
                str(template),
                "--stack-name",
                self.stack_name,
                "--capabilities",
                "CAPABILITY_IAM",
                "--resolve-s3",
                "--confirm-changeset" if self.args.confirm_changeset else "--no-confirm-changeset",
                # a second install with nothing to change is not an error
                "--no-fail-on-empty-changeset",
                *(["--region", self.region] if self.region else []),
                "--parameter-overrides",
                *overrides,
            ]
        )

    def outputs(self) -> dict[str, str]:
        """The outputs of the stack just deployed (a dry run: placeholders naming them)."""
        if self.dry:
            self.out(self.aws_line("cloudformation", "describe-stacks", "--stack-name", self.stack_name))
            return {**{k: f"<{k} from the stack outputs>" for k in NEEDED_OUTPUTS}, "ClusterName": self.cluster}
        deployed = self.describe_stack()
        if deployed is None:
            raise CliError(f"stack {self.stack_name} not found after sam deploy: see sam deploy's output above")
        self.refuse_another_cluster(deployed)
        stack.require(deployed.outputs, *NEEDED_OUTPUTS)
        self.out(f"  {len(deployed.outputs)} outputs of stack {self.stack_name}")
        return deployed.outputs

    def binding_patches(self) -> list[dict[str, Any]]:
        """Patches for another namespace than the base's: drop the base's Namespace (the
        user's namespace is not ours to label, and uninstall must not delete it), and
        move the RBAC bindings' subjects, which kustomize's ``namespace:`` leaves where
        the base put them."""
        if self.own_namespace:
            return []
        drop = {"$patch": "delete", "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.base_namespace}}
        patches: list[dict[str, Any]] = [{"patch": json.dumps(drop, separators=(",", ":"))}]
        for doc in yaml.safe_load_all((self.root / BASE / "rbac.yaml").read_text()):
            if not doc or doc.get("kind") not in ("RoleBinding", "ClusterRoleBinding"):
                continue
            ops = [
                {"op": "replace", "path": f"/subjects/{i}/namespace", "value": self.namespace}
                for i, subject in enumerate(doc.get("subjects") or [])
                if subject.get("kind") == "ServiceAccount" and subject.get("namespace") == self.base_namespace
            ]
            if ops:
                target = {"kind": doc["kind"], "name": doc["metadata"]["name"]}
                patches.append({"target": target, "patch": json.dumps(ops)})
        return patches

    def overlay_files(self, outputs: Mapping[str, str]) -> dict[str, str]:
        """File name → text of the overlay: its kustomization, and for IRSA the role the
        base's IRSA component (components/irsa) annotates the ServiceAccount with."""
        base = os.path.relpath(self.root / BASE, self.root / self.overlay)
        literals = [f"{s.env}={s.value(outputs)}" for s in FORWARDER_SETTINGS]
        literals.append(f"INGRESS_CLASS={self.args.ingress_class}")
        doc: dict[str, Any] = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "namespace": self.namespace,
            "resources": [base],
        }
        files: dict[str, str] = {}
        if self.args.forwarder_role_arn:
            doc["resources"].append(IRSA_ROLE_FILE)
            doc["components"] = [os.path.join(base, IRSA_COMPONENT)]
            role = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                # read by the component's replacement, never applied
                "metadata": {"name": IRSA_ROLE_CONFIG, "annotations": {"config.kubernetes.io/local-config": "true"}},
                "data": {"roleArn": self.args.forwarder_role_arn},
            }
            files[IRSA_ROLE_FILE] = (
                f"# IRSA: the forwarder's role, written by {WRITTEN_BY} (--forwarder-role-arn).\n"
                + (yaml.safe_dump(role, sort_keys=False, width=1000))
            )
        if self.args.image:
            doc["images"] = [self.args.image]
        doc["configMapGenerator"] = [{"name": CONFIG_MAP, "behavior": "merge", "literals": literals}]
        if patches := self.binding_patches():
            doc["patches"] = patches
        header = (
            f"# The forwarder for cluster {self.cluster} (stack {self.stack_name}), written by {WRITTEN_BY},\n"
            "# which rewrites it on every run: change it with install's options. Settings not\n"
            f"# set here keep {BASE / 'forwarder.env'}'s values.\n"
        )
        return {OVERLAY_FILE: header + yaml.safe_dump(doc, sort_keys=False, width=1000), **files}

    def write_overlay(self, outputs: Mapping[str, str]) -> None:
        files = self.overlay_files(outputs)
        for name, text in files.items():
            path = self.overlay / name
            if self.dry:
                self.out(f"--- {path}")
                self.out(text.rstrip("\n"))
                self.out("---")
                continue
            target = self.root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            self.out(f"  wrote {path}")
        stale = self.root / self.overlay / IRSA_ROLE_FILE
        if not self.dry and IRSA_ROLE_FILE not in files and stale.exists() and _written_by_install(stale):
            stale.unlink()  # from an IRSA install before: a role nothing uses any more
            self.out(f"  removed {self.overlay / IRSA_ROLE_FILE} (no --forwarder-role-arn: EKS Pod Identity)")
        if not self.args.image:
            self.out(f"  no --image: the forwarder runs the base's image reference ({IMAGE_NAME}, no registry)")

    def associate(self, service_account: str, role: str) -> None:
        ns = self.namespace
        if self.dry:
            self.out(
                self.aws_line(
                    "eks",
                    "create-pod-identity-association",
                    "--cluster-name",
                    self.cluster,
                    "--namespace",
                    ns,
                    "--service-account",
                    service_account,
                    "--role-arn",
                    role,
                )
            )
            self.out("  (skipped when the ServiceAccount is already associated with that role)")
            return
        found = self.association(self.eks, service_account)
        if found is not None:
            association, associated = found
            if associated != role:
                raise CliError(
                    f"the ServiceAccount {ns}/{service_account} of cluster {self.cluster} is associated with role "
                    f"{associated}, not the stack's {role}: delete that association (aws eks "
                    f"delete-pod-identity-association --cluster-name {self.cluster} --association-id {association}) "
                    "and run install again"
                )
            self.out(f"  already associated ({association})")
            return
        with aws_errors():
            made = self.eks.create_pod_identity_association(
                clusterName=self.cluster, namespace=ns, serviceAccount=service_account, roleArn=role
            )["association"]
        self.out(f"  created {made['associationId']}: {ns}/{service_account} runs as {role}")

    # --- the wait -------------------------------------------------------------------------

    def lease_name(self) -> str:
        """The Lease the forwarder's replicas compete for (the base's forwarder.env)."""
        for line in (self.root / BASE / "forwarder.env").read_text().splitlines():
            if line.startswith("LEASE_NAME="):
                return line.split("=", 1)[1].strip()
        return DEPLOYMENT

    def leader(self, lease: str) -> Leader | None:
        """The Lease holder, when it is a running pod that is not terminating. Called after
        the rollout finished, so such a pod is one of the new ReplicaSet: the old pods are
        all terminating or gone."""
        found = self.read(self.kubectl("get", "lease", lease, "-n", self.namespace, "-o", "json", "--ignore-not-found"))
        spec = (json.loads(found) if found.strip() else {}).get("spec") or {}
        holder, acquired = str(spec.get("holderIdentity") or ""), spec.get("acquireTime")
        if not holder or not acquired:
            return None
        # the forwarder's holder identity is its pod's name, "_" and a random suffix
        pod = holder.rsplit("_", 1)[0]
        found = self.read(self.kubectl("get", "pod", pod, "-n", self.namespace, "-o", "json", "--ignore-not-found"))
        meta = (json.loads(found) if found.strip() else {}).get("metadata")
        if not meta or meta.get("deletionTimestamp"):
            return None
        return Leader(pod=pod, since=_micro_time(str(acquired)))

    def wait(self, store: Store | None, outputs: Mapping[str, str], *, started: float) -> None:
        budget = float(self.args.wait)
        ns, lease = self.namespace, self.lease_name()
        rollout = self.kubectl("rollout", "status", f"deploy/{DEPLOYMENT}", "-n", ns)
        self.header(f"wait for the forwarder's rollout (up to {budget:.0f} s in all)")
        if store is None:  # a dry run
            self.out(_quote([*rollout, f"--timeout={budget:.0f}s"]))
            self.header("wait for a Resync from the new forwarder to reach ingest")
            key = json.dumps({"pk": {"S": RESYNC_PK}, "sk": {"S": "#"}}, separators=(",", ":"))
            self.out(_quote(self.kubectl("get", "lease", lease, "-n", ns, "-o", "json")))
            self.out(_quote(self.kubectl("get", "pod", "<the pod of spec.holderIdentity>", "-n", ns, "-o", "json")))
            self.out(
                self.aws_line(
                    "dynamodb", "get-item", "--table-name", outputs["StateTableName"], "--key", key, "--consistent-read"
                )
            )
            self.out(
                "  (polled until the Lease's holder is a pod of the rollout, not terminating, and the item's at is "
                "at or after the holder's acquireTime)"
            )
            return
        if budget <= 0:
            self.out("  --wait 0: not waiting; albatross status shows what Albatross sees")
            return
        deadline = started + budget
        left = max(1, math.ceil(deadline - monotonic()))
        try:
            self.command([*rollout, f"--timeout={left}s"], capture=True)
        except CliError as e:
            raise CliError(
                f"the forwarder's rollout did not finish within {budget:.0f} s of kubectl apply: see kubectl -n {ns} "
                f"get pods and kubectl -n {ns} describe deploy/{DEPLOYMENT}"
            ) from e
        self.header("wait for a Resync from the new forwarder to reach ingest")
        self.out(f"  (the holder of the Lease {ns}/{lease} must be a pod of the rollout; its Resync, recorded after)")
        progress = monotonic() + PROGRESS_SECONDS
        leader: Leader | None = None
        while True:
            leader = self.leader(lease)
            found = store.last_resync() if leader else None
            now = monotonic()
            if leader and found and found[1] >= leader.since:
                self.out(
                    f"the new forwarder's leader {leader.pod} (leading since {_when(leader.since)}) sent a Resync "
                    f"(event {found[0]}) that reached ingest at {_when(found[1])}, {now - started:.1f} s after kubectl "
                    f"apply: Albatross runs for cluster {self.cluster}. Next: albatross status"
                )
                return
            if now >= deadline:
                raise CliError(self._no_resync(budget, lease, leader))
            if now >= progress:
                self.out(f"  still waiting after {now - started:.0f} s (kubectl -n {ns} get pods)")
                progress += PROGRESS_SECONDS
            sleep(min(POLL_SECONDS, max(0.0, deadline - now)))

    def _no_resync(self, budget: float, lease: str, leader: Leader | None) -> str:
        ns = self.namespace
        see = f"see kubectl -n {ns} get pods and kubectl -n {ns} logs deploy/{DEPLOYMENT}"
        if leader is None:
            return (
                f"no pod of the forwarder's rollout holds the Lease {ns}/{lease} within {budget:.0f} s of kubectl "
                f"apply: {see}"
            )
        return (
            f"no Resync from the forwarder's leader {leader.pod} reached ingest within {budget:.0f} s of kubectl "
            f"apply: {see} (pods started before their Pod Identity association took effect need kubectl -n {ns} "
            f"rollout restart deploy/{DEPLOYMENT}), then albatross redrive --dry-run"
        )


def _written_by_install(path: Path) -> bool:
    with path.open() as f:
        first = f.readline()
    return first.startswith("#") and WRITTEN_BY in first


class _Uninstall(_Run):
    def run(self) -> int:
        if self.dry:
            self.out(
                "albatross uninstall --dry-run: nothing is run or deleted. Commands run from the "
                "repository root; <...> stands for what only AWS can tell."
            )
        self.check_context()
        deployed = self.read_stack()
        outputs = deployed.outputs
        self.header(f"look for what cluster {self.cluster} still uses")
        self.in_use(deployed)
        self.header(f"check the forwarder's overlay {self.overlay}")
        self.check_overlay()
        self.header("remove the forwarder")
        self.command(self.kubectl("delete", "-k", str(self.overlay), "--ignore-not-found"), capture=True)
        self.header("remove the Pod Identity association")
        self.dissociate(outputs["ForwarderRoleArn"])
        self.header("empty the claim-check bucket (CloudFormation deletes only an empty bucket)")
        self.empty_bucket(outputs["PayloadBucketName"])
        self.header(f"delete the stack {self.stack_name}")
        self.command(
            [
                "sam",
                "delete",
                "--stack-name",
                self.stack_name,
                "--no-prompts",
                *(["--region", self.region] if self.region else []),
            ]
        )
        self.out(
            f"the state table {outputs['StateTableName']} stays (DeletionPolicy: Retain): delete it with "
            + self.aws_line("dynamodb", "delete-table", "--table-name", outputs["StateTableName"])
            + " when nothing will adopt this cluster's load balancers again"
        )
        return 0

    def read_stack(self) -> DeployedStack:
        """The stack uninstall deletes, read from CloudFormation: its outputs name what
        the rest removes, so they come from no other place."""
        self.header(f"read the stack {self.stack_name}")
        if self.dry:
            self.out(self.aws_line("cloudformation", "describe-stacks", "--stack-name", self.stack_name))
            self.out(f"  (refused unless it was deployed for cluster {self.cluster})")
            return DeployedStack(
                parameters={"VpcId": "<VpcId of the stack>"},
                outputs={k: f"<{k} from the stack outputs>" for k in UNINSTALL_OUTPUTS},
            )
        deployed = self.describe_stack()
        if deployed is None:
            region = clients.client("cloudformation").meta.region_name
            raise CliError(f"stack {self.stack_name} not found in {region}: pass --stack-name (and --region)")
        self.refuse_another_cluster(deployed)
        stack.require(deployed.outputs, *UNINSTALL_OUTPUTS)
        self.out(f"  deployed for cluster {self.cluster}, in {deployed.parameters.get('VpcId', 'no VPC')}")
        return deployed

    def in_use(self, deployed: DeployedStack) -> None:
        """Refuse while a load balancer of the cluster, an IngressGroup with members or a
        running execution exists (``--force``: say what stays)."""
        outputs = deployed.outputs
        if self.dry:
            self._show_in_use(deployed)
            return
        found = self.load_balancers(deployed.parameters.get("VpcId", ""))
        store = Store(outputs["StateTableName"])
        groups = {g: store.members(g) for g in sorted(store.all_groups())}
        running = self.running(outputs)
        if not (found or groups or running):
            self.out("  no load balancer, no IngressGroup, no execution running")
            return
        shown = []
        for arn, tags in sorted(found.items(), key=lambda item: _name(item[0])):
            group = tags.get(TAG_STACK, "")
            members = groups.pop(group, [])
            what = f"IngressGroup {group}: " + (", ".join(f"Ingress {m}" for m in members) or "no Ingress left")
            shown.append(f"load balancer {_name(arn)} ({what})")
        for group, members in groups.items():
            shown.append(f"IngressGroup {group} ({', '.join(f'Ingress {m}' for m in members)}; no load balancer yet)")
        shown += [f"{kind} execution {name} running" for kind, name in running]
        if not self.args.force:
            raise CliError(
                f"cluster {self.cluster} is still in use: {'; '.join(shown)}. Delete those Ingresses (kubectl "
                "delete ingress -n NAMESPACE NAME) and wait until albatross status lists no IngressGroup, or pass "
                "--force to leave them behind, unmanaged"
            )
        for line in shown:
            self.out(f"  --force: {line} stays")
        self.out(
            "  Nothing manages them once the stack is gone. A load balancer keeps serving, keeps its tags "
            f"({TAG_CLUSTER}={self.cluster}, {TAG_STACK}), its target groups and security groups, so Albatross or "
            "LBC installed later for this cluster adopts it as it is. The Ingresses keep their finalizers: deleting "
            "one waits until such a controller runs (or until you remove the finalizer by hand, which leaves the "
            "load balancer to you). A running execution stops with the stack, part done"
        )

    def _show_in_use(self, deployed: DeployedStack) -> None:
        outputs = deployed.outputs
        self.out(
            self.aws_line(
                "resourcegroupstaggingapi",
                "get-resources",
                "--tag-filters",
                f"Key={TAG_CLUSTER},Values={self.cluster}",
                "--resource-type-filters",
                "elasticloadbalancing:loadbalancer",
            )
        )
        self.out(f"  (and the same for early LBC's key {LEGACY_TAG_CLUSTER}; the tagging API can lag, so also:)")
        vpc = deployed.parameters["VpcId"]
        query = f"LoadBalancers[?VpcId=='{vpc}'].LoadBalancerArn"
        self.out(self.aws_line("elbv2", "describe-load-balancers", then=f'--query "{query}"'))  # as a shell reads it
        self.out(self.aws_line("elbv2", "describe-tags", "--resource-arns", "<each of those, 20 at a time>"))
        self.out(
            self.aws_line(
                "dynamodb",
                "scan",
                "--table-name",
                outputs["StateTableName"],
                "--filter-expression",
                "begins_with(pk, :g) AND begins_with(sk, :i)",
                "--expression-attribute-values",
                '{":g":{"S":"grp#"},":i":{"S":"ing#"}}',
            )
        )
        for key in ("ProvisionStateMachineArn", "TeardownStateMachineArn"):
            self.out(
                self.aws_line(
                    "stepfunctions",
                    "list-executions",
                    "--state-machine-arn",
                    outputs[key],
                    "--status-filter",
                    "RUNNING",
                )
            )
        self.out("  (a load balancer, an IngressGroup with members or an execution running: stop, unless --force)")

    def load_balancers(self, vpc: str) -> dict[str, dict[str, str]]:
        """ARN → tags of every load balancer tagged for the cluster: the tagging API's
        answer, and elbv2's own in the stack's VPC (the tagging API lists a new load
        balancer only some time after it was made)."""
        found = dict(discovery.load_balancers(cluster=self.cluster))
        elbv2 = clients.elbv2()
        arns: list[str] = []
        with aws_errors():
            for page in elbv2.get_paginator("describe_load_balancers").paginate():
                arns += [lb["LoadBalancerArn"] for lb in page["LoadBalancers"] if lb.get("VpcId") == vpc]
            for chunk in _chunks([a for a in arns if a not in found], TAGS_PER_CALL):
                for described in elbv2.describe_tags(ResourceArns=chunk)["TagDescriptions"]:
                    tags = {t["Key"]: t.get("Value", "") for t in described.get("Tags", [])}
                    if self.cluster in (tags.get(TAG_CLUSTER), tags.get(LEGACY_TAG_CLUSTER)):
                        found[described["ResourceArn"]] = tags
        return found

    def running(self, outputs: Mapping[str, str]) -> list[tuple[str, str]]:
        """(kind, name) of each provision or teardown execution running now."""
        out = []
        sfn = clients.sfn()
        with aws_errors():
            for kind, key in (("provision", "ProvisionStateMachineArn"), ("teardown", "TeardownStateMachineArn")):
                pages = sfn.get_paginator("list_executions").paginate(
                    stateMachineArn=outputs[key], statusFilter="RUNNING"
                )
                for page in pages:
                    out += [(kind, str(e["name"])) for e in page["executions"]]
        return out

    def check_overlay(self) -> None:
        """Refuse an overlay that would delete a Namespace install did not create: only the
        base's own, labelled as the base labels it, may go with the forwarder."""
        argv = self.kubectl("kustomize", str(self.overlay))
        if self.dry:
            self.out(_quote(argv))
            self.out(
                f"  (refused if it holds a Namespace other than the base's own {self.base_namespace}, labelled "
                f"{PART_OF[0]}={PART_OF[1]})"
            )
            return
        if not (self.root / self.overlay / OVERLAY_FILE).exists():
            raise CliError(f"no {self.overlay / OVERLAY_FILE}: pass --overlay (the one install wrote)")
        self.out(_quote(argv))
        docs = [d for d in yaml.safe_load_all(self.read(argv)) if d]
        namespaces = [d.get("metadata") or {} for d in docs if d.get("kind") == "Namespace"]
        for meta in namespaces:
            name = meta.get("name")
            if name != self.base_namespace or (meta.get("labels") or {}).get(PART_OF[0]) != PART_OF[1]:
                raise CliError(
                    f"{self.overlay} holds the Namespace {name}, which albatross install did not create: kubectl "
                    "delete -k would delete it and everything in it. Run albatross install again (it rewrites the "
                    "overlay without it), or remove it from the overlay"
                )
        also = f", the forwarder's own Namespace {self.base_namespace}" if namespaces else ", no Namespace"
        self.out(f"  {len(docs)} objects{also}")

    def dissociate(self, role: str) -> None:
        service_account = self.service_account()
        if self.dry:
            self.out(
                self.aws_line(
                    "eks",
                    "delete-pod-identity-association",
                    "--cluster-name",
                    self.cluster,
                    "--association-id",
                    f"<the association of {self.namespace}/{service_account} with {role}>",
                )
            )
            self.out("  (none for IRSA, whose role is yours; an association with another role is left alone)")
            return
        found = self.association(self.eks, service_account)
        if found is None:
            self.out("  none")
            return
        association, associated = found
        if associated != role:
            self.out(f"  {association} runs as {associated}, not the stack's role: left alone")
            return
        with aws_errors():
            self.eks.delete_pod_identity_association(clusterName=self.cluster, associationId=association)
        self.out(f"  deleted {association}")

    def empty_bucket(self, bucket: str) -> None:
        if self.dry:
            self.out(self.aws_line("s3", "rm", f"s3://{bucket}", "--recursive"))
            return
        s3, removed = clients.s3(), 0
        with aws_errors():
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                keys: list[ObjectIdentifierTypeDef] = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if keys:
                    s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
                    removed += len(keys)
        self.out(f"  {removed} object{'s' if removed != 1 else ''} removed")


def install(args: argparse.Namespace, *, root: Path, out: Callable[[str], None] = print, eks: Eks | None = None) -> int:
    return _Install(args, root=root, out=out, eks=eks).run()


def uninstall(
    args: argparse.Namespace, *, root: Path, out: Callable[[str], None] = print, eks: Eks | None = None
) -> int:
    return _Uninstall(args, root=root, out=out, eks=eks).run()
