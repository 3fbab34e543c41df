"""The artifact we ship, run the way Lambda runs it.

Every function of the built template is invoked through the Lambda API of the local AWS
(moto on 127.0.0.1), which starts an execution environment per function: the template's
Python with ``sys.path`` holding only the function's build folder and the built layer
(:mod:`albatross.local.artifact`). Each gets every sample event meant for it (``events/``):
the forwarder's bus events go to ingest, ``events/lambda/`` holds the others'. A missing
dependency, an import of dev-only code or a parameter the layer's botocore refuses fails
here; so does a layer that carries what Lambda never imports.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from albatross.aws import clients
from albatross.aws.clients import LAYER_SERVICES
from albatross.contract.claim import claim_check
from albatross.local.cloud import LocalCloud, local_cloud
from albatross.local.system import make_vpc
from tests.artifact import built, manifest
from tests.helpers import EVENTS, ROOT

CLUSTER = "my-cluster"  # the sample events' cluster


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    build = built()

    def parameters() -> dict[str, str]:
        return {"ClusterName": CLUSTER, "VpcId": make_vpc(CLUSTER)}

    with local_cloud(root=ROOT, parameters=parameters, build=build, log_level="INFO") as running:
        yield running


def function_name(logical: str) -> str:
    found = [f["FunctionName"] for f in clients.client("lambda").list_functions()["Functions"]]
    [name] = [n for n in found if n.endswith(f"-{logical}")]
    return str(name)


def invoke(logical: str, event: Any) -> tuple[str | None, Any]:
    resp = clients.client("lambda").invoke(FunctionName=function_name(logical), Payload=json.dumps(event).encode())
    return resp.get("FunctionError"), json.loads(resp["Payload"].read() or b"null")


def bus_events() -> list[str]:
    """The forwarder's events (the write-back messages go the other way, to the forwarder)."""
    return sorted(
        f"{p.parent.name}/{p.stem}"
        for version in ("v1", "v2")
        for p in (EVENTS / version).glob("*.json")
        if not p.stem.startswith("writeback-")
    )


def load(name: str) -> Any:
    return json.loads((EVENTS / f"{name}.json").read_text())


def put_claimed_payload(cloud: LocalCloud, event: dict[str, Any]) -> None:
    """A claim-checked sample names its payload by hash: store the body that hashes to it
    (the inline sample of the same change, claim-checked as the forwarder would) in this
    stack's payload bucket, and point the sample there."""
    ref = event["detail"]["objectRef"]
    ref["bucket"] = str(cloud.deployment.outputs["PayloadBucketName"])
    inline = load("v2/" + event["detail-type"].lower() if event["detail-type"] == "Resync" else "v2/ingress-upsert")
    _, body = claim_check(inline["detail"], bucket=ref["bucket"])
    clients.s3().put_object(Bucket=ref["bucket"], Key=ref["key"], Body=body)


def test_the_layer_holds_only_what_lambda_imports() -> None:
    site = built() / "CoreLayer" / "python"
    assert (site / "albatross" / "aws").is_dir()
    for absent in ("albatross/cli", "albatross/local", "yaml", "moto", "kubernetes", "samtranslator", "pydantic"):
        assert not (site / absent).exists(), f"{absent} is in the layer"
    # boto3 and botocore are the layer's own, not the runtime's
    assert (site / "boto3").is_dir()
    assert {d.name for d in (site / "botocore" / "data").iterdir() if d.is_dir()} == set(LAYER_SERVICES)
    # bytecode for the runtime's Python next to every module
    tag = "cpython-" + manifest()["python"].replace(".", "")
    modules = [p for p in site.rglob("*.py") if "dist-info" not in str(p)]
    missing = [p for p in modules if not (p.parent / "__pycache__" / f"{p.stem}.{tag}.pyc").exists()]
    assert modules
    assert missing == []


IMPORT_ALL = """
import importlib, json, pkgutil, sys
sys.path[:0] = [sys.argv[1]]
seen, failed = [], {}
for top in ("albatross", "aws_lambda_powertools"):
    for info in pkgutil.walk_packages(importlib.import_module(top).__path__, top + "."):
        seen.append(info.name)
        try:
            importlib.import_module(info.name)
        except Exception as e:
            failed[info.name] = f"{type(e).__name__}: {e}"
print(json.dumps({"seen": seen, "failed": failed}))
"""


def test_every_module_the_layer_keeps_imports_from_the_layer_alone() -> None:
    """What the layer keeps of the core and of Powertools needs nothing it dropped."""
    site = built() / "CoreLayer" / "python"
    ran = subprocess.run(  # noqa: S603  # the build's interpreter, our script
        [manifest()["interpreter"], "-I", "-S", "-c", IMPORT_ALL, str(site)], capture_output=True, text=True, check=True
    )
    result = json.loads(ran.stdout)
    assert "albatross.controller.reconcile" in result["seen"]
    assert "aws_lambda_powertools.logging.logger" in result["seen"]
    assert result["failed"] == {}


def test_the_build_is_for_the_templates_python() -> None:
    """The smoke test means something only on the runtime's Python (make package refuses
    another unless told)."""
    template = (built() / "template.yaml").read_text()
    assert f"Runtime: python{manifest()['python']}" in template


def test_ingest_takes_every_bus_event(cloud: LocalCloud) -> None:
    outcomes: dict[str, Any] = {}
    for name in bus_events():
        event = load(name)
        if name.endswith("-claim"):
            put_claimed_payload(cloud, event)
        outcomes[name] = invoke("IngestFunction", event)
    assert {name: payload for name, (error, payload) in outcomes.items() if error} == {}


SAMPLES = [
    ("ReconcileFunction", "lambda/reconcile-work"),
    ("ReconcileFunction", "lambda/reconcile-targets"),
    ("StepFunction", "lambda/step-wait-gone"),
    ("DriftFunction", "lambda/drift-schedule"),
    ("AwsEventsFunction", "lambda/aws-events-execution-aborted"),
    ("AwsEventsFunction", "lambda/aws-events-deregister-targets"),
    ("ReadinessFunction", "lambda/readiness-poll"),
]


def test_every_other_function_runs_its_samples(cloud: LocalCloud) -> None:
    # the group the samples name exists: its Ingress was ingested
    assert invoke("IngestFunction", load("v1/ingress-upsert")) == (None, {"groups": ["game-2048/game-2048"]})
    outcomes = {name: invoke(logical, load(name)) for logical, name in SAMPLES}
    assert {name: payload for name, (error, payload) in outcomes.items() if error} == {}
    # the reconcile reports its batch: no item failed
    assert outcomes["lambda/reconcile-work"][1] == {"batchItemFailures": []}
    assert outcomes["lambda/reconcile-targets"][1] == {"batchItemFailures": []}
    # the poll's pod is not in the state table (gone): nothing read, nothing failed
    assert outcomes["lambda/readiness-poll"][1] == {"batchItemFailures": []}
    # the sweep found the one group (enqueued, for a difference or its turn: ADR 0015), and
    # no stack without a group
    swept = outcomes["lambda/drift-schedule"][1]
    assert (swept["groups"], swept["changed"] + swept["due"], swept["deferred"]) == (1, 1, 0)
    assert (swept["orphans"], swept["unknown"]) == ([], [])
    # the execution was never started here (DescribeExecution finds none); the target group is no group's
    assert outcomes["lambda/aws-events-execution-aborted"][1]["action"] == "ignored"
    assert outcomes["lambda/aws-events-deregister-targets"][1]["action"] == "unknown"


def test_every_function_of_the_template_has_a_sample() -> None:
    template = (built() / "template.yaml").read_text()
    functions = {line.split(":")[1].strip() for line in template.splitlines() if line.strip().startswith("CodeUri:")}
    sampled = {"IngestFunction"} | {logical for logical, _ in SAMPLES}
    assert functions == sampled


def test_a_handler_that_cannot_import_fails_as_lambda_says(tmp_path: Path, cloud: LocalCloud) -> None:
    """The runtime stand-in reports an import failure as Lambda does (so the checks above
    would see one): a layer without its dependencies cannot run ingest."""
    from albatross.local import artifact

    build = artifact.Build.read(built())
    hollow = tmp_path / "build"
    (hollow / "CoreLayer" / "python").mkdir(parents=True)
    runtime = artifact.Runtime(artifact.Build(root=hollow, python=build.python))
    try:
        function = artifact.Function(
            name="hollow", folder=built() / "IngestFunction", handler="app.lambda_handler", environment={}
        )
        result = runtime.invoke(
            function,
            load("v1/ingress-upsert"),
            {"function_name": "hollow", "invoked_function_arn": "arn", "aws_request_id": "1"},
        )
    finally:
        runtime.close()
    assert result.errored
    assert result.payload["errorType"] == "Runtime.ImportModuleError"
    assert "No module named" in result.payload["errorMessage"]


def _runtime_with(tmp_path: Path, source: str) -> tuple[Any, Any]:
    """A runtime on the build's layer, and a function whose handler is ``source``."""
    from albatross.local import artifact

    folder = tmp_path / "fn"
    folder.mkdir()
    (folder / "app.py").write_text(source)
    runtime = artifact.Runtime(artifact.Build.read(built()))
    function = artifact.Function(name="probe", folder=folder, handler="app.handler", environment={}, timeout=1)
    return runtime, function


CONTEXT = {"function_name": "probe", "invoked_function_arn": "arn", "aws_request_id": "1"}


def test_a_handler_past_its_timeout_is_stopped_as_lambda_stops_it(tmp_path: Path) -> None:
    runtime, function = _runtime_with(tmp_path, "import threading\ndef handler(e, c):\n    threading.Event().wait()\n")
    try:
        result = runtime.invoke(function, {}, CONTEXT)
        again = runtime.invoke(function, {}, CONTEXT)  # a new environment, timed out as well
    finally:
        runtime.close()
    assert result.errored
    assert result.payload == {"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 1.00 seconds"}
    assert again.payload["errorType"] == "Sandbox.Timedout"
    assert not runtime.scratch.exists()


def test_concurrent_invocations_get_environments_and_logs_of_their_own(tmp_path: Path) -> None:
    source = "import os\ndef handler(e, c):\n    print('event', e['n'], os.getpid())\n    return os.getpid()\n"
    runtime, function = _runtime_with(tmp_path, source)
    barrier = threading.Barrier(4)

    def one(n: int) -> Any:
        barrier.wait()
        return runtime.invoke(function, {"n": n}, CONTEXT)

    try:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(one, range(4)))
    finally:
        runtime.close()
    for n, result in enumerate(results):
        assert not result.errored, result.payload
        assert [line for line in result.log_lines if line.startswith("event")] == [f"event {n} {result.payload}"]
