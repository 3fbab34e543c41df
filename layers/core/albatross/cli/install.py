"""``albatross install`` and ``albatross uninstall``: the stack and the forwarder, in order.

Install: ``sam deploy`` (the template ``make package`` built), the stack's outputs, the
forwarder's kustomize overlay (settings from the outputs, the image), the EKS Pod
Identity association of the forwarder's ServiceAccount with the stack's role, ``kubectl
apply -k``, then a wait until the forwarder's first Resync reaches ingest (ingest
records the last Resync in the state table: ``forwarder#resync``). Uninstall: refuse
while a load balancer of the cluster exists (``--force`` leaves them behind), then
``kubectl delete -k``, the association, the claim-check objects and ``sam delete``.

``--dry-run`` needs no AWS access: every command (as the ``sam``, ``kubectl`` or ``aws``
line that does the same) and every file is printed, with ``<placeholders>`` for what only
AWS can tell. External tools run as subprocesses from the repository root; AWS calls go
through :mod:`albatross.aws.clients`. Failures are one line (exit 1).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import yaml

from albatross.aws import clients, discovery
from albatross.aws.errors import aws_errors
from albatross.cli import stack
from albatross.cli.stack import CliError
from albatross.model.names import TAG_CLUSTER, TAG_STACK
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
DEPLOYMENT = "albatross-forwarder"
DEFAULT_WAIT = 300.0
POLL_SECONDS = 2.0
PROGRESS_SECONDS = 15.0


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


class Eks(Protocol):
    """The EKS calls install and uninstall make: boto3's client, or a test's double
    (keyword arguments as the API names them)."""

    def describe_cluster(self, **kwargs: Any) -> Any: ...

    def list_pod_identity_associations(self, **kwargs: Any) -> Any: ...

    def describe_pod_identity_association(self, **kwargs: Any) -> Any: ...

    def create_pod_identity_association(self, **kwargs: Any) -> Any: ...

    def delete_pod_identity_association(self, **kwargs: Any) -> Any: ...


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
            "--namespace", default="albatross", help="the forwarder's namespace (default: %(default)s)"
        )
        command.add_argument(
            "--overlay", type=Path, help="the forwarder's kustomize overlay (default: deploy/overlays/CLUSTER)"
        )
        command.add_argument(
            "--dry-run", action="store_true", help="print every command and file; run and write nothing"
        )
        stack.add_options(command)
    install.add_argument("--vpc-id", help="the cluster's VPC (default: EKS DescribeCluster's)")
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
        help="how long to wait for the forwarder's first Resync (default: %(default).0f; 0: do not wait)",
    )
    uninstall.add_argument(
        "--force", action="store_true", help="go ahead while load balancers exist: they stay, unmanaged"
    )


def _quote(argv: Sequence[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)


class _Run:
    """What both commands share: the repository, the options, how commands run or are shown."""

    def __init__(self, args: argparse.Namespace, *, root: Path, out: Callable[[str], None], eks: Eks | None) -> None:
        self.args, self.root, self.out, self._eks = args, root, out, eks
        self.dry = bool(args.dry_run)
        self.cluster: str = args.cluster
        self.region: str | None = args.region
        self.stack_name: str = args.stack_name or stack.default_stack_name(root)
        # shown and used relative to the repository root, where the tools run
        overlay: Path = Path.cwd() / args.overlay if args.overlay else root / "deploy" / "overlays" / self.cluster
        self.overlay = Path(os.path.relpath(overlay, root)) if overlay.is_relative_to(root) else overlay
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

    def header(self, text: str) -> None:
        self.step += 1
        self.out(f"\n# {self.step}. {text}" if self.dry else f"[{self.step}] {text}")

    def aws_line(self, *argv: str) -> str:
        return _quote(["aws", *argv, *(["--region", self.region] if self.region else [])])

    def command(self, argv: list[str], *, capture: bool = False) -> str:
        """Run an external tool from the repository root (dry run: print it)."""
        self.out(_quote(argv))
        if self.dry:
            return ""
        try:
            done = subprocess.run(  # noqa: S603  # sam and kubectl with our own arguments, no shell
                argv, cwd=self.root, check=False, text=True, capture_output=capture
            )
        except FileNotFoundError as e:
            raise CliError(f"{argv[0]} is not on PATH: install it (README, Deploy to AWS)") from e
        if capture:
            for line in (done.stdout + done.stderr).splitlines():
                self.out(f"  {line}")
        if done.returncode != 0:
            raise CliError(f"{argv[0]} {argv[1]} failed (exit {done.returncode}); its output above says why")
        return done.stdout if capture else ""

    def outputs(self) -> dict[str, str]:
        """The stack's outputs (a dry run: placeholders naming them)."""
        if self.dry:
            self.out(self.aws_line("cloudformation", "describe-stacks", "--stack-name", self.stack_name))
            return {**{k: f"<{k} from the stack outputs>" for k in NEEDED_OUTPUTS}, "ClusterName": self.cluster}
        # --outputs, or $ALBATROSS_OUTPUTS unless --stack-name is given (as every command
        # reads them), else the stack just deployed
        named = self.args.stack_name or not (self.args.outputs or os.environ.get(stack.OUTPUTS_ENV))
        found = stack.outputs(
            argparse.Namespace(**{**vars(self.args), "stack_name": self.stack_name if named else None})
        )
        stack.require(found, *NEEDED_OUTPUTS)
        if found["ClusterName"] != self.cluster:
            raise CliError(
                f"stack {self.stack_name} serves cluster {found['ClusterName']}, not {self.cluster}: "
                "pass --stack-name (one stack per cluster)"
            )
        self.out(f"  {len(found)} outputs of stack {self.stack_name}")
        return found

    def service_account(self) -> str:
        """The forwarder's ServiceAccount, as the base names it."""
        for doc in yaml.safe_load_all((self.root / BASE / "rbac.yaml").read_text()):
            if doc and doc.get("kind") == "ServiceAccount":
                return str(doc["metadata"]["name"])
        raise CliError(f"{BASE / 'rbac.yaml'} names no ServiceAccount")

    def binding_patches(self) -> list[dict[str, Any]]:
        """JSON patches that move the RBAC bindings' subjects to ``--namespace``: kustomize's
        ``namespace:`` moves the objects but not the subjects the base puts in its own."""
        base = yaml.safe_load((self.root / BASE / "kustomization.yaml").read_text()).get("namespace")
        if self.args.namespace == base:
            return []
        patches = []
        for doc in yaml.safe_load_all((self.root / BASE / "rbac.yaml").read_text()):
            if not doc or doc.get("kind") not in ("RoleBinding", "ClusterRoleBinding"):
                continue
            ops = [
                {"op": "replace", "path": f"/subjects/{i}/namespace", "value": self.args.namespace}
                for i, subject in enumerate(doc.get("subjects") or [])
                if subject.get("kind") == "ServiceAccount" and subject.get("namespace") == base
            ]
            if ops:
                target = {"kind": doc["kind"], "name": doc["metadata"]["name"]}
                patches.append({"target": target, "patch": json.dumps(ops)})
        return patches

    def association(self, eks: Eks, service_account: str) -> tuple[str, str] | None:
        """(association id, role ARN) of the ServiceAccount's Pod Identity association."""
        with aws_errors():
            token: dict[str, str] = {}
            while True:
                page = eks.list_pod_identity_associations(
                    clusterName=self.cluster, namespace=self.args.namespace, serviceAccount=service_account, **token
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
        if self.dry:
            self.out(
                "albatross install --dry-run: nothing is run or written. Commands run from the "
                "repository root; <...> stands for what only AWS can tell."
            )
        elif not (self.root / TEMPLATE).exists():
            raise CliError(f"no {TEMPLATE}: run make package first (README, Deploy to AWS)")
        vpc = self.vpc()
        self.deploy(vpc)
        self.header("read the stack's outputs")
        outputs = self.outputs()
        self.header(f"write the forwarder's overlay {self.overlay}")
        self.write_overlay(outputs)
        service_account = self.service_account()
        if self.args.forwarder_role_arn:
            self.header("IRSA: no Pod Identity association (the overlay annotates the ServiceAccount instead)")
        else:
            self.header(f"associate the stack's role with the ServiceAccount {self.args.namespace}/{service_account}")
            self.associate(service_account, outputs["ForwarderRoleArn"])
        store = None if self.dry else Store(outputs["StateTableName"])
        before = store.last_resync() if store else None
        self.header("install the forwarder")
        started = time.monotonic()
        applied = self.command(["kubectl", "apply", "-k", str(self.overlay)], capture=True)
        self.wait(store, outputs, before=before, started=started, applied=applied)
        return 0

    def vpc(self) -> str:
        if self.args.vpc_id:
            return str(self.args.vpc_id)
        self.header(f"find the VPC of cluster {self.cluster}")
        if self.dry:
            self.out(
                self.aws_line(
                    "eks",
                    "describe-cluster",
                    "--name",
                    self.cluster,
                    "--query",
                    "cluster.resourcesVpcConfig.vpcId",
                    "--output",
                    "text",
                )
            )
            return "<vpcId from aws eks describe-cluster>"
        with aws_errors():
            found = self.eks.describe_cluster(name=self.cluster)["cluster"]
        vpc = str(found.get("resourcesVpcConfig", {}).get("vpcId", ""))
        if not vpc:
            raise CliError(f"EKS says nothing of cluster {self.cluster}'s VPC: pass --vpc-id")
        self.out(f"  {vpc}")
        return vpc

    def deploy(self, vpc: str) -> None:
        self.header(f"deploy the stack {self.stack_name}")
        overrides = [f"ClusterName={self.cluster}", f"VpcId={vpc}", f"IngressClass={self.args.ingress_class}"]
        if self.args.forwarder_role_arn:
            overrides.append(f"ForwarderRoleArn={self.args.forwarder_role_arn}")
        self.command(
            [
                "sam",
                "deploy",
                "--template-file",
                str(TEMPLATE),
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

    def overlay_files(self, outputs: Mapping[str, str]) -> dict[str, str]:
        """File name → text of the overlay: its kustomization, and for IRSA the role the
        base's IRSA component (components/irsa) annotates the ServiceAccount with."""
        base = os.path.relpath(self.root / BASE, self.root / self.overlay)
        literals = [f"{s.env}={s.value(outputs)}" for s in FORWARDER_SETTINGS]
        literals.append(f"INGRESS_CLASS={self.args.ingress_class}")
        doc: dict[str, Any] = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "namespace": self.args.namespace,
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
            files[IRSA_ROLE_FILE] = "# IRSA: the forwarder's role (albatross install --forwarder-role-arn).\n" + (
                yaml.safe_dump(role, sort_keys=False, width=1000)
            )
        if self.args.image:
            doc["images"] = [self.args.image]
        doc["configMapGenerator"] = [{"name": CONFIG_MAP, "behavior": "merge", "literals": literals}]
        if patches := self.binding_patches():
            doc["patches"] = patches
        header = (
            f"# The forwarder for cluster {self.cluster} (stack {self.stack_name}), written by albatross install,\n"
            "# which rewrites it on every run: change it with install's options. Settings not\n"
            f"# set here keep {BASE / 'forwarder.env'}'s values.\n"
        )
        return {"kustomization.yaml": header + yaml.safe_dump(doc, sort_keys=False, width=1000), **files}

    def write_overlay(self, outputs: Mapping[str, str]) -> None:
        for name, text in self.overlay_files(outputs).items():
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
        if not self.args.image:
            self.out(f"  no --image: the forwarder runs the base's image reference ({IMAGE_NAME}, no registry)")

    def associate(self, service_account: str, role: str) -> None:
        ns = self.args.namespace
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

    def wait(
        self,
        store: Store | None,
        outputs: Mapping[str, str],
        *,
        before: tuple[str, float] | None,
        started: float,
        applied: str,
    ) -> None:
        budget = float(self.args.wait)
        self.header(f"wait for the forwarder's first Resync to reach ingest (up to {budget:.0f} s)")
        if store is None:  # a dry run
            key = json.dumps({"pk": {"S": RESYNC_PK}, "sk": {"S": "#"}}, separators=(",", ":"))
            self.out(
                self.aws_line(
                    "dynamodb", "get-item", "--table-name", outputs["StateTableName"], "--key", key, "--consistent-read"
                )
            )
            self.out("  (polled until the item's event differs from what it was before kubectl apply)")
            return
        if budget <= 0:
            self.out("  --wait 0: not waiting; albatross status shows what Albatross sees")
            return
        if before is not None and f"deployment.apps/{DEPLOYMENT} unchanged" in applied:
            # the running forwarder is the one that sent the last Resync: nothing new will come soon
            self.out(f"  the forwarder did not change; its last Resync reached ingest at {_when(before[1])}")
            return
        deadline, progress = started + budget, started + PROGRESS_SECONDS
        while True:
            found = store.last_resync()
            now = time.monotonic()
            if found is not None and found != before:
                self.out(
                    f"the forwarder's first Resync reached ingest {now - started:.1f} s after kubectl apply "
                    f"(at {_when(found[1])}): Albatross runs for cluster {self.cluster}. Next: albatross status"
                )
                return
            if now >= deadline:
                raise CliError(
                    f"no Resync reached ingest within {budget:.0f} s of kubectl apply: see kubectl -n "
                    f"{self.args.namespace} get pods and kubectl -n {self.args.namespace} logs deploy/{DEPLOYMENT} "
                    f"(pods started before their Pod Identity association took effect need kubectl -n "
                    f"{self.args.namespace} rollout restart deploy/{DEPLOYMENT}), then albatross redrive --dry-run"
                )
            if now >= progress:
                self.out(f"  still waiting after {now - started:.0f} s (kubectl -n {self.args.namespace} get pods)")
                progress += PROGRESS_SECONDS
            time.sleep(min(POLL_SECONDS, max(0.0, deadline - now)))


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))


class _Uninstall(_Run):
    def run(self) -> int:
        if self.dry:
            self.out(
                "albatross uninstall --dry-run: nothing is run or deleted. Commands run from the "
                "repository root; <...> stands for what only AWS can tell."
            )
        self.header("read the stack's outputs")
        outputs = self.outputs()
        self.header(f"look for load balancers of cluster {self.cluster}")
        self.load_balancers(outputs)
        self.header("remove the forwarder")
        if not self.dry and not (self.root / self.overlay / "kustomization.yaml").exists():
            raise CliError(f"no {self.overlay / 'kustomization.yaml'}: pass --overlay (the one install wrote)")
        self.command(["kubectl", "delete", "-k", str(self.overlay), "--ignore-not-found"], capture=True)
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

    def load_balancers(self, outputs: Mapping[str, str]) -> None:
        if self.dry:
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
            self.out("  (and the same for early LBC's key ingress.k8s.aws/cluster; any found: stop, unless --force)")
            return
        found = discovery.load_balancers(cluster=self.cluster)
        if not found:
            self.out("  none")
            return
        store = Store(outputs["StateTableName"])
        shown = []
        for arn, tags in sorted(found.items(), key=lambda item: _name(item[0])):
            group = tags.get(TAG_STACK, "")
            members = store.members(group) if group else []
            what = f"IngressGroup {group}: " + (", ".join(f"Ingress {m}" for m in members) or "no Ingress left")
            shown.append(f"{_name(arn)} ({what})")
        if not self.args.force:
            count = f"{len(found)} load balancer{'s' if len(found) > 1 else ''}"
            verb = "exist" if len(found) > 1 else "exists"
            raise CliError(
                f"{count} of cluster {self.cluster} still {verb}: {'; '.join(shown)}. Delete those Ingresses "
                "(kubectl delete ingress -n NAMESPACE NAME) and wait until albatross status lists no load balancer, "
                "or pass --force to leave them behind, unmanaged"
            )
        for line in shown:
            self.out(
                f"  --force: {line} stays. Nothing manages it once the stack is gone: it keeps serving, "
                f"keeps its tags ({TAG_CLUSTER}={self.cluster}, {TAG_STACK}) and its target groups and "
                "security groups, so Albatross or LBC installed later for this cluster adopts it as it is. Its "
                "Ingresses keep their finalizers: deleting one waits until such a controller runs (or until "
                "you remove the finalizer by hand, which leaves the load balancer to you)"
            )

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
                    f"<the association of {self.args.namespace}/{service_account} with {role}>",
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


def _name(arn: str) -> str:
    """A load balancer's name from its ARN (``...:loadbalancer/app/NAME/ID``)."""
    return arn.split("/")[-2]


def install(args: argparse.Namespace, *, root: Path, out: Callable[[str], None] = print, eks: Eks | None = None) -> int:
    return _Install(args, root=root, out=out, eks=eks).run()


def uninstall(
    args: argparse.Namespace, *, root: Path, out: Callable[[str], None] = print, eks: Eks | None = None
) -> int:
    return _Uninstall(args, root=root, out=out, eks=eks).run()
