"""What the stand-in tools do: ``sam``, ``kubectl``, ``docker``, ``aws``, ``gh`` and ``helm``
as tests put them first on PATH (tests/functional/deploy_tools.py writes the executables,
which call :func:`main`).

Every run is recorded (argv, working directory, and for ``docker login
--password-stdin`` what came on stdin) in ``$STANDIN_LOG``, one JSON line each. Beyond
that each tool answers only what the deploy tests need, as the real one would:

* ``sam deploy`` stands for CloudFormation in the local cloud: it creates or updates a
  stack of that name in moto whose parameters are the overrides merged over the
  previous values (SAM CLI sends ``UsePreviousValue`` for every parameter not given:
  ``samcli/commands/deploy/deploy_context.py``, ``merge_parameters``) and whose outputs
  are ``$STANDIN_OUTPUTS``'s (the local deployment's) with ``ClusterName`` and an IRSA
  ``ForwarderRoleArn`` from the parameters, as the template's outputs take them. Values
  are parsed as SAM CLI 1.170 parses ``--parameter-overrides``: ``Key=""`` is an empty
  value, ``Key=`` is refused. ``sam delete`` deletes that stack. Without
  ``$STANDIN_OUTPUTS`` both only record.
* ``kubectl``: a leading ``--context NAME`` is recorded and passed on. ``apply -k`` and
  ``delete -k`` render with the real ``kubectl kustomize`` and print a line per object
  (``unchanged`` with ``$STANDIN_UNCHANGED``); ``kustomize`` and ``config`` are the real
  kubectl's. ``get namespace`` knows a cluster's four built-in namespaces and
  ``$STANDIN_NAMESPACES``; ``rollout status`` waits, when ``$STANDIN_ROLLED`` exists, until
  it counts as many rollouts as ``apply -k`` runs (a test's rollout writes it), and fails
  as past its progress deadline with ``$STANDIN_ROLLOUT_FAILS``;
  ``get lease`` answers from the real kubectl in ``$STANDIN_LEASE_NAMESPACE`` (the local
  forwarder, outside any pod, keeps its Lease in ``default``) or from the file
  ``$STANDIN_LEASE``; ``get pod`` from ``$STANDIN_PODS`` (name → deletionTimestamp or null).
* ``aws ecr get-login-password`` prints a password, ``docker buildx version`` a version,
  ``gh release download`` copies matching assets from ``$STANDIN_RELEASE``.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ECR_PASSWORD = "standin-ecr-password"  # what the stand-in aws prints, for docker login to read
BUILT_IN_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def main(tool: str, argv: list[str]) -> int:
    entry: dict[str, Any] = {"tool": tool, "argv": argv, "cwd": os.getcwd()}
    if tool == "docker" and "login" in argv and "--password-stdin" in argv:
        entry["stdin"] = sys.stdin.read()
    with open(os.environ["STANDIN_LOG"], "a") as log:
        log.write(json.dumps(entry) + "\n")
    if tool == "sam":
        return _sam(argv)
    if tool == "kubectl":
        return _kubectl(argv)
    if tool == "docker" and argv[:2] == ["buildx", "version"]:
        print("github.com/docker/buildx v0.0.0-standin")
    if tool == "aws" and argv[:2] == ["ecr", "get-login-password"]:
        print(ECR_PASSWORD)
    if tool == "aws" and argv[:2] == ["ecr", "create-repository"]:
        print(json.dumps({"repository": {"repositoryName": _option(argv, "--repository-name")}}))
    if tool == "gh" and argv[:2] == ["release", "download"]:
        return _gh_download(argv)
    return 0


def _option(argv: list[str], name: str, default: str = "") -> str:
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return default


# --- sam ---------------------------------------------------------------------------------


def _overrides(argv: list[str]) -> dict[str, str] | None:
    values: dict[str, str] = {}
    if "--parameter-overrides" not in argv:
        return values
    for arg in argv[argv.index("--parameter-overrides") + 1 :]:
        if arg.startswith("--"):
            break
        key, sep, value = arg.partition("=")
        quoted = len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'"
        if not sep or not key or not (value or quoted):
            sys.stderr.write(f"Error: Invalid value for '--parameter-overrides': {arg} is not a valid format.\n")
            return None
        values[key] = value[1:-1] if quoted else value
    return values


def _sam(argv: list[str]) -> int:
    import boto3
    from botocore.exceptions import ClientError

    outputs_file = os.environ.get("STANDIN_OUTPUTS")
    name = _option(argv, "--stack-name")
    region = _option(argv, "--region", os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    if argv[:1] == ["delete"]:
        if outputs_file:
            boto3.client("cloudformation", region_name=region).delete_stack(StackName=name)
        print(f"Deleted successfully ({name})")
        return 0
    if argv[:1] != ["deploy"]:
        return 0
    template = _option(argv, "--template-file")
    if not Path(template).exists():
        sys.stderr.write(f"Error: Template file not found at {template}\n")
        return 1
    overrides = _overrides(argv)
    if overrides is None:
        return 2
    if not outputs_file:
        return 0
    cloudformation = boto3.client("cloudformation", region_name=region)
    try:
        previous = cloudformation.describe_stacks(StackName=name)["Stacks"][0].get("Parameters", [])
    except ClientError:
        previous = None
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in previous or []} | overrides
    outputs = {**json.loads(Path(outputs_file).read_text()), "ClusterName": parameters.get("ClusterName", "")}
    if parameters.get("ForwarderRoleArn"):
        outputs["ForwarderRoleArn"] = parameters["ForwarderRoleArn"]
    body = json.dumps(
        {
            "Parameters": {k: {"Type": "String"} for k in parameters},
            "Resources": {},  # moto takes a stack of parameters and outputs alone
            "Outputs": {k: {"Value": v} for k, v in outputs.items()},
        }
    )
    given = [{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()]
    if previous is None:
        cloudformation.create_stack(StackName=name, TemplateBody=body, Parameters=given)
        print(f"Successfully created/updated stack - {name} in {region}")
        return 0
    try:
        cloudformation.update_stack(StackName=name, TemplateBody=body, Parameters=given)
    except ClientError as e:
        if "No updates are to be performed" not in str(e) or "--no-fail-on-empty-changeset" not in argv:
            raise
        print(f"No changes to deploy. Stack {name} is up to date")
        return 0
    print(f"Successfully created/updated stack - {name} in {region}")
    return 0


# --- kubectl -----------------------------------------------------------------------------


def _real(argv: list[str]) -> int:
    done = subprocess.run([os.environ["REAL_KUBECTL"], *argv], capture_output=True, text=True, check=False)  # noqa: S603  # the real kubectl, the test's arguments
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    return done.returncode


def _kubectl(argv: list[str]) -> int:
    context: list[str] = []
    if argv[:1] == ["--context"]:
        context, argv = argv[:2], argv[2:]
    if len(argv) >= 3 and argv[0] in ("apply", "delete") and argv[1] == "-k":
        return _apply(argv)
    if argv[:1] == ["kustomize"]:
        return _real(argv)
    if argv[:1] == ["config"]:
        return _real([*context, *argv])
    if argv[:2] == ["get", "namespace"]:
        known = {*BUILT_IN_NAMESPACES, *filter(None, os.environ.get("STANDIN_NAMESPACES", "").split(","))}
        if argv[2] not in known:
            sys.stderr.write(f'Error from server (NotFound): namespaces "{argv[2]}" not found\n')
            return 1
        print(f"namespace/{argv[2]}")
        return 0
    if argv[:2] == ["rollout", "status"]:
        return _rollout(argv)
    if argv[:2] == ["get", "lease"]:
        if namespace := os.environ.get("STANDIN_LEASE_NAMESPACE"):
            at = argv.index("-n")
            return _real([*argv[: at + 1], namespace, *argv[at + 2 :]])
        lease = Path(os.environ.get("STANDIN_LEASE", "/nonexistent"))
        if lease.exists():
            sys.stdout.write(lease.read_text())
        return 0
    if argv[:2] == ["get", "pod"]:
        pods = json.loads(os.environ.get("STANDIN_PODS") or "{}")
        if argv[2] in pods:
            deleting = {"deletionTimestamp": pods[argv[2]]} if pods[argv[2]] else {}
            print(json.dumps({"kind": "Pod", "metadata": {"name": argv[2], **deleting}}))
        return 0
    return 0


def _apply(argv: list[str]) -> int:
    import yaml

    # the real kubectl renders the overlay; nothing is contacted
    real = [os.environ["REAL_KUBECTL"], "kustomize", argv[2]]
    done = subprocess.run(real, capture_output=True, text=True, check=False)  # noqa: S603  # the real kubectl, a local folder
    if done.returncode:
        sys.stderr.write(done.stderr)
        return done.returncode
    verb = "deleted" if argv[0] == "delete" else "unchanged" if os.environ.get("STANDIN_UNCHANGED") else "created"
    for doc in yaml.safe_load_all(done.stdout):
        group = doc["apiVersion"].rpartition("/")[0]
        kind = doc["kind"].lower() + ("." + group if group else "")
        print(kind + "/" + doc["metadata"]["name"] + " " + verb)
    return 0


def _rollout(argv: list[str]) -> int:
    deployment = argv[2].split("/")[-1]
    if os.environ.get("STANDIN_ROLLOUT_FAILS"):
        sys.stderr.write(f'error: deployment "{deployment}" exceeded its progress deadline\n')
        return 1
    rolled = Path(os.environ.get("STANDIN_ROLLED", "/nonexistent"))
    if rolled.exists():
        timeout = float(_option(argv, "--timeout", "60s").rstrip("s"))
        deadline = time.monotonic() + timeout
        log = Path(os.environ["STANDIN_LOG"]).read_text().splitlines()
        applied = sum(1 for line in log if json.loads(line)["argv"][-3:-1] == ["apply", "-k"])
        # a rollout is the local forwarder restarted: wait for the one this apply started
        while int(rolled.read_text() or "0") < applied:
            if time.monotonic() > deadline:
                sys.stderr.write("error: timed out waiting for the condition\n")
                return 1
            time.sleep(0.05)
    print(f'deployment "{deployment}" successfully rolled out')
    return 0


# --- gh ----------------------------------------------------------------------------------


def _gh_download(argv: list[str]) -> int:
    assets = Path(os.environ.get("STANDIN_RELEASE", "/nonexistent"))
    pattern = _option(argv, "--pattern", "*")
    found = sorted(p for p in assets.glob("*") if fnmatch.fnmatch(p.name, pattern)) if assets.is_dir() else []
    if not found:
        sys.stderr.write("no assets match the file pattern\n")
        return 1
    target = Path(_option(argv, "--dir", "."))
    for path in found:
        shutil.copy(path, target / path.name)
    return 0
