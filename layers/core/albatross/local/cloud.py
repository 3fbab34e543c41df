"""A local AWS: moto in server mode on 127.0.0.1, provisioned from ``template.yaml``.

Resources are created through the service APIs from the translated template (moto's
CloudFormation ignores the SAM transform), so the template stays the single source of
names and wiring. Queues' visibility timeouts and functions' ``*_SECONDS`` environment
variables are scaled by ``time_scale`` when they are created here, never in the
template; Step Functions' ``Retry`` intervals and ``Wait`` states run on the scaled
clock of :mod:`albatross.local.clock`. Handlers'
log lines go to their functions' log groups (:mod:`albatross.local.logship`); saved
Logs Insights queries and the queries themselves are answered by
:mod:`albatross.local.insights`, which fills what moto lacks. What AWS itself puts on
the default bus (executions' status changes, CloudTrail's records of API calls) comes
from :mod:`albatross.local.awsevents`.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto.server import ThreadedMotoServer

from albatross.aws import clients
from albatross.local import artifact, awsevents, clock, insights, intrinsics, lambdas, logship, speed
from albatross.local.realistic import Realistic, limited
from albatross.local.template import translate
from albatross.model import limits

REGION = "us-east-1"
ACCOUNT = "123456789012"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}
# A queue's invocations at once when its function reserves no concurrency: Lambda starts
# an SQS event source mapping at five concurrent batches (Lambda's "Configuring scaling
# behavior for SQS event source mappings"); locally it stays there.
UNRESERVED_POLLERS = 5


@dataclass(frozen=True)
class RuleRoute:
    """An EventBridge rule target that is a Lambda function, delivered via a tap queue."""

    queue_url: str
    function: str
    retry_seconds: int = 1  # after a failed delivery (the tap queue's visibility timeout)


@dataclass(frozen=True)
class QueueRoute:
    """An SQS event source mapping: poll ``queue_url``, invoke ``function`` with batches."""

    queue_url: str
    queue_arn: str
    function: str
    batch_size: int
    partial: bool
    # Invocations at once from this queue (albatross.local.dispatch): the mapping's
    # ScalingConfig.MaximumConcurrency, else the function's reserved concurrency, else 5
    # (Lambda's first five concurrent batches on a queue). A FIFO queue's message groups
    # bound it too: SQS serves a group to one receiver at a time.
    concurrency: int = 1


@dataclass
class Deployment:
    attributes: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    rule_routes: list[RuleRoute] = field(default_factory=list)
    queue_routes: list[QueueRoute] = field(default_factory=list)
    state_machines: list[str] = field(default_factory=list)
    schedules: dict[str, str] = field(default_factory=dict)  # EventBridge Scheduler schedule → function
    roles: dict[str, str] = field(default_factory=dict)  # function name → its role's ARN (who its calls are)
    recorded: dict[str, Any] = field(default_factory=dict)  # resources kept as their properties only
    concurrency: dict[str, int] = field(default_factory=dict)  # function name → its reserved concurrency


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("README", "code runs in-process, see albatross.local.lambdas")
    return buf.getvalue()


class _Deployer:
    def __init__(
        self,
        *,
        stack: str,
        translated: Mapping[str, Any],
        parameters: Mapping[str, str],
        code_dirs: Mapping[str, Path],
        time_scale: float,
        runtime: artifact.Runtime | None = None,
    ) -> None:
        self.stack = stack
        self.template = translated
        self.parameters = dict(parameters)
        self.code_dirs = code_dirs
        self.time_scale = time_scale
        self.runtime = runtime
        self.conditions: dict[str, bool] = {}
        self.out = Deployment()

    def lookup(self, name: str, attribute: str | None) -> Any:
        pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::StackName": self.stack,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": intrinsics.NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters and attribute is None:
            return self.parameters[name]
        attrs = self.out.attributes[name]
        return attrs["Ref"] if attribute is None else attrs[attribute]

    def resolve(self, value: Any) -> Any:
        return intrinsics.resolve(value, self.lookup, self.conditions)

    def deploy(self) -> Deployment:
        resources: Mapping[str, Any] = self.template["Resources"]
        params = {k: v.get("Default") for k, v in self.template.get("Parameters", {}).items()}
        self.parameters = {**{k: str(v) for k, v in params.items() if v is not None}, **self.parameters}
        for name, expression in self.template.get("Conditions", {}).items():
            self.conditions[name] = intrinsics.evaluate(expression, self.lookup, self.conditions)
        pending = {lid: res for lid, res in resources.items() if self.conditions.get(res.get("Condition", ""), True)}
        while pending:
            ready = [
                lid
                for lid, res in pending.items()
                if all(d not in pending for d in intrinsics.references(res.get("Properties", {})) | set(_depends(res)))
            ]
            if not ready:
                raise ValueError(f"template has a dependency cycle among {sorted(pending)}")
            for lid in sorted(ready):
                self.create(lid, pending.pop(lid))
        self.out.outputs = {
            k: self.resolve(v["Value"])
            for k, v in self.template.get("Outputs", {}).items()
            if self.conditions.get(v.get("Condition", ""), True)
        }
        return self.out

    def client(self, service: str) -> Any:
        return clients.client(service)

    def name(self, logical: str, limit: int = 64) -> str:
        return f"{self.stack}-{logical}"[:limit]

    def create(self, logical: str, res: Mapping[str, Any]) -> None:
        kind = res["Type"]
        props = self.resolve(res.get("Properties", {}))
        attrs: dict[str, Any]
        if kind == "AWS::SQS::Queue":
            attrs = self.queue(logical, props)
        elif kind == "AWS::DynamoDB::Table":
            name = self.name(logical)
            arn = self.client("dynamodb").create_table(
                TableName=name,
                AttributeDefinitions=props["AttributeDefinitions"],
                KeySchema=props["KeySchema"],
                BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"),
            )["TableDescription"]["TableArn"]
            attrs = {"Ref": name, "Arn": arn}
        elif kind == "AWS::Events::EventBus":
            arn = self.client("events").create_event_bus(Name=props["Name"])["EventBusArn"]
            attrs = {"Ref": props["Name"], "Arn": arn, "Name": props["Name"]}
        elif kind == "AWS::IAM::Role":
            name = self.name(logical)
            role = self.client("iam").create_role(
                RoleName=name, AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"])
            )["Role"]
            attrs = {"Ref": name, "Arn": role["Arn"]}
        elif kind == "AWS::IAM::ManagedPolicy":
            arn = self.client("iam").create_policy(
                PolicyName=self.name(logical, 128), PolicyDocument=json.dumps(props["PolicyDocument"])
            )["Policy"]["Arn"]
            attrs = {"Ref": arn}
        elif kind == "AWS::Lambda::LayerVersion":
            attrs = {"Ref": f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{props.get('LayerName', logical)}:1"}
        elif kind == "AWS::Lambda::Function":
            attrs = self.function(logical, props)
        elif kind == "AWS::Lambda::EventSourceMapping":
            queue = next(a for a in self.out.attributes.values() if a.get("Arn") == props["EventSourceArn"])
            reserved = self.out.concurrency.get(str(props["FunctionName"]), UNRESERVED_POLLERS)
            maximum = (props.get("ScalingConfig") or {}).get("MaximumConcurrency")
            self.out.queue_routes.append(
                QueueRoute(
                    queue_url=queue["Ref"],
                    queue_arn=props["EventSourceArn"],
                    function=props["FunctionName"],
                    batch_size=int(props.get("BatchSize", 10)),
                    partial="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                    concurrency=min(reserved, int(maximum)) if maximum else reserved,
                )
            )
            attrs = {"Ref": logical}
        elif kind == "AWS::Events::Rule":
            attrs = self.rule(logical, props)
        elif kind == "AWS::StepFunctions::StateMachine":
            attrs = self.state_machine(logical, props)
        elif kind == "AWS::Logs::LogGroup":
            logs = self.client("logs")
            logs.create_log_group(logGroupName=props["LogGroupName"])
            if "RetentionInDays" in props:
                logs.put_retention_policy(
                    logGroupName=props["LogGroupName"], retentionInDays=int(props["RetentionInDays"])
                )
            attrs = {
                "Ref": props["LogGroupName"],
                "Arn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{props['LogGroupName']}",
            }
        elif kind == "AWS::CloudWatch::Alarm":
            name = props.get("AlarmName") or self.name(logical, 255)
            alarms = self.client("cloudwatch")
            alarms.put_metric_alarm(AlarmName=name, **typed(alarms, "PutMetricAlarm", props))
            attrs = {"Ref": name}
        elif kind == "AWS::CloudWatch::Dashboard":
            self.client("cloudwatch").put_dashboard(
                DashboardName=props["DashboardName"], DashboardBody=props["DashboardBody"]
            )
            attrs = {"Ref": props["DashboardName"]}
        elif kind == "AWS::Events::Archive":
            name = props.get("ArchiveName") or self.name(logical, 48)
            arn = self.client("events").create_archive(
                ArchiveName=name,
                EventSourceArn=props["SourceArn"],
                RetentionDays=int(props.get("RetentionDays", 0)),
                EventPattern=json.dumps(props["EventPattern"]),
            )["ArchiveArn"]
            attrs = {"Ref": name, "Arn": arn}
        elif kind == "AWS::Logs::QueryDefinition":
            found = self.client("logs").put_query_definition(
                name=props["Name"], queryString=props["QueryString"], logGroupNames=props.get("LogGroupNames", [])
            )["queryDefinitionId"]
            attrs = {"Ref": found, "QueryDefinitionId": found}
        elif kind in ("AWS::Events::EventBusPolicy", "AWS::SQS::QueuePolicy"):
            self.out.recorded[logical] = props  # not enforced locally: recorded
            attrs = {"Ref": logical}
        elif kind == "AWS::S3::Bucket":
            attrs = self.bucket(logical, props)
        elif kind == "AWS::S3::BucketPolicy":
            # recorded only: moto would enforce it, and its TLS-only rule refuses the local
            # endpoint's plain HTTP
            self.out.recorded[logical] = props
            attrs = {"Ref": logical}
        elif kind == "AWS::Scheduler::Schedule":
            # Not timed locally: Dispatcher.fire runs a schedule's target on demand.
            self.out.schedules[logical] = str(props["Target"]["Arn"])
            attrs = {"Ref": props.get("Name", logical)}
        elif kind in ("AWS::Lambda::Permission", "AWS::IAM::Policy"):
            attrs = {"Ref": logical}  # permissions are not enforced locally
        else:
            raise ValueError(f"albatross local cannot create {kind} ({logical})")
        self.out.attributes[logical] = attrs

    def queue(self, logical: str, props: Mapping[str, Any]) -> dict[str, Any]:
        fifo = bool(props.get("FifoQueue"))
        name = self.name(logical, 75) + (".fifo" if fifo else "")
        attributes = {}
        for key, value in props.items():
            if key in ("QueueName", "Tags"):
                continue
            if key == "VisibilityTimeout":  # a failed message comes back sooner, as retries do
                value = max(1, math.ceil(int(value) * self.time_scale))
            if isinstance(value, dict):
                attributes[key] = json.dumps(value)
            elif isinstance(value, bool):
                attributes[key] = "true" if value else "false"
            else:
                attributes[key] = str(value)
        sqs = self.client("sqs")
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return {"Ref": url, "Arn": arn, "QueueName": name, "QueueUrl": url}

    def function(self, logical: str, props: Mapping[str, Any]) -> dict[str, Any]:
        name = self.name(logical)
        env = {k: str(v) for k, v in ((props.get("Environment") or {}).get("Variables") or {}).items()}
        for key, value in env.items():
            if key.endswith("_SECONDS"):  # a duration (a retry's backoff): as short as the queues' waits
                env[key] = f"{float(value) * self.time_scale:g}"
        arn = self.client("lambda").create_function(
            FunctionName=name,
            Runtime=props["Runtime"],
            Role=props["Role"],
            Handler=props["Handler"],
            Code={"ZipFile": _zip()},
            Timeout=int(props.get("Timeout", 3)),
            MemorySize=int(props.get("MemorySize", 128)),
            Environment={"Variables": env},
        )["FunctionArn"]
        folder = self.code_dirs[logical]
        built = None
        if self.runtime is not None:
            function = artifact.Function(
                name=name,
                folder=folder,
                handler=props["Handler"],
                environment=env,
                timeout=int(props.get("Timeout", 3)),
                memory=int(props.get("MemorySize", 128)),
            )
            built = (self.runtime, function)
        lambdas.register(
            name,
            lambdas.Code(folder=folder, handler=props["Handler"], built=built, timeout=float(props.get("Timeout", 3))),
        )
        self.out.roles[name] = str(props["Role"])
        if "ReservedConcurrentExecutions" in props:
            self.out.concurrency[name] = int(props["ReservedConcurrentExecutions"])
        for key, value in env.items():
            if self.out.environment.setdefault(key, value) != value:
                # Differs per function (e.g. POWERTOOLS_SERVICE_NAME); handlers set it themselves.
                self.out.environment[key] = ""
        return {"Ref": name, "Arn": arn}

    def rule(self, logical: str, props: Mapping[str, Any]) -> dict[str, Any]:
        events, sqs = self.client("events"), self.client("sqs")
        name = self.name(logical)
        bus = props.get("EventBusName", "default")
        arn = events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(props["EventPattern"]))["RuleArn"]
        targets = []
        for target in props.get("Targets", []):
            function = next((lid for lid, a in self.out.attributes.items() if a.get("Arn") == target["Arn"]), None)
            if function is None:
                targets.append({"Id": target["Id"], "Arn": target["Arn"]})
                continue
            # moto does not deliver to Lambda: deliver to a tap queue the dispatcher reads.
            # Retries are compressed like every other wait here: a failed delivery comes back
            # after a (scaled) visibility timeout, and at most 3 attempts reach the DLQ.
            attributes = {"VisibilityTimeout": str(max(1, math.ceil(30 * self.time_scale)))}
            dlq = (target.get("DeadLetterConfig") or {}).get("Arn")
            if dlq:
                retries = int((target.get("RetryPolicy") or {}).get("MaximumRetryAttempts", 185))
                redrive = {"deadLetterTargetArn": dlq, "maxReceiveCount": min(retries + 1, 3)}
                attributes["RedrivePolicy"] = json.dumps(redrive)
            url = sqs.create_queue(QueueName=self.name(f"{logical}-tap", 80), Attributes=attributes)["QueueUrl"]
            tap_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            targets.append({"Id": target["Id"], "Arn": tap_arn})
            self.out.rule_routes.append(
                RuleRoute(
                    queue_url=url,
                    function=self.out.attributes[function]["Ref"],
                    retry_seconds=int(attributes["VisibilityTimeout"]),
                )
            )
        if targets:
            events.put_targets(Rule=name, EventBusName=bus, Targets=targets)
        return {"Ref": name, "Arn": arn}

    def bucket(self, logical: str, props: Mapping[str, Any]) -> dict[str, Any]:
        """A bucket with the template's encryption, public access block, ownership and
        lifecycle rules (the CloudFormation spellings turned into the API's)."""
        name = props.get("BucketName") or self.name(logical, 63).lower()
        s3 = self.client("s3")
        s3.create_bucket(Bucket=name)
        if "BucketEncryption" in props:
            encryption = [
                {"ApplyServerSideEncryptionByDefault": r["ServerSideEncryptionByDefault"]}
                for r in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            ]
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": encryption})
        if "PublicAccessBlockConfiguration" in props:
            s3.put_public_access_block(
                Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
            )
        if "OwnershipControls" in props:
            s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=props["OwnershipControls"])
        rules = [
            {
                "ID": rule.get("Id", f"rule-{i}"),
                "Status": rule["Status"],
                "Filter": {"Prefix": rule.get("Prefix", "")},
                **({"Expiration": {"Days": int(rule["ExpirationInDays"])}} if "ExpirationInDays" in rule else {}),
                **(
                    {"AbortIncompleteMultipartUpload": {"DaysAfterInitiation": int(abort["DaysAfterInitiation"])}}
                    if (abort := rule.get("AbortIncompleteMultipartUpload"))
                    else {}
                ),
            }
            for i, rule in enumerate((props.get("LifecycleConfiguration") or {}).get("Rules", []))
        ]
        if rules:
            s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": rules})
        return {
            "Ref": name,
            "Arn": f"arn:aws:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{REGION}.amazonaws.com",
        }

    def state_machine(self, logical: str, props: Mapping[str, Any]) -> dict[str, Any]:
        text = props["DefinitionString"]
        subs = props.get("DefinitionSubstitutions") or {}
        text = intrinsics.substitute(text, subs, self.lookup)
        name = self.name(logical, 80)
        arn = self.client("stepfunctions").create_state_machine(
            name=name,
            definition=text,  # as written: its waits run on the scaled clock (albatross.local.clock)
            roleArn=props["RoleArn"],
            type=props.get("StateMachineType", "STANDARD"),
        )["stateMachineArn"]
        self.out.state_machines.append(arn)
        return {"Ref": arn, "Arn": arn, "Name": name}


def _depends(res: Mapping[str, Any]) -> list[str]:
    value = res.get("DependsOn", [])
    return [value] if isinstance(value, str) else list(value)


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    clients.reset()
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        clients.reset()


@dataclass
class LocalCloud:
    endpoint: str
    deployment: Deployment
    aws_events: awsevents.AwsEvents  # what AWS itself puts on the default bus; its trail can be switched off
    realistic: Realistic | None = None  # AWS's limits, when asked for: buckets, tallies, provisioning


@contextmanager
def local_cloud(
    *,
    root: Path,
    parameters: Mapping[str, str] | Callable[[], Mapping[str, str]],
    time_scale: float = 0.05,
    stack: str = "albatross",
    log_level: str = "WARNING",
    build: Path | None = None,
    realistic: bool = False,
    provisioning_seconds: float = limits.PROVISIONING_SECONDS,
) -> Iterator[LocalCloud]:
    """Start moto on 127.0.0.1, deploy the template into it, route Lambda in-process.

    ``parameters`` may be a callable, called once moto is up (to create, say, the VPC the
    ``VpcId`` parameter names). With ``build`` (a ``make package`` folder) the functions
    run from that artifact in processes of their own (:mod:`albatross.local.artifact`),
    deployed from the build's template. ``realistic``: the endpoint throttles,
    validates and provisions as one AWS account does (:mod:`albatross.local.realistic`),
    on AWS's clock (wall time over ``time_scale``); off, moto as it is.
    ``provisioning_seconds``: how long a new load balancer stays ``provisioning`` there, on
    AWS's clock."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    with ExitStack() as stack_:
        stack_.callback(server.stop)
        account = None
        if realistic:
            limits_ = limited(server, time_scale=time_scale, provisioning_seconds=provisioning_seconds)
            account = stack_.enter_context(limits_)
        env = {
            **FAKE_CREDENTIALS,
            "AWS_ENDPOINT_URL": endpoint,
            "MOTO_PORT": str(port),  # Step Functions in moto invokes Lambda on localhost:MOTO_PORT
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": log_level,
        }
        stack_.enter_context(_environment(env))
        # One process shares moto's backends: start from (and leave) a clean account.
        _moto_api(endpoint, "reset")
        stack_.callback(_moto_api, endpoint, "reset")
        _moto_api(endpoint, "config", {"stepfunctions": {"execute_state_machine": True}})
        stack_.enter_context(clock.scaled(time_scale))
        stack_.enter_context(speed.shortcuts())
        stack_.enter_context(lambdas.routed())
        stack_.enter_context(logship.shipping(log_level))
        stack_.enter_context(insights.served())
        values = parameters() if callable(parameters) else parameters
        runtime = None
        if build is not None:
            runtime = artifact.Runtime(artifact.Build.read(build))
            stack_.callback(runtime.close)
        translated = translate((build or root) / "template.yaml", values)
        deployment = _Deployer(
            stack=stack,
            translated=translated.template,
            parameters=values,
            code_dirs=translated.code_dirs,
            time_scale=time_scale,
            runtime=runtime,
        ).deploy()
        function_env = {k: v for k, v in deployment.environment.items() if v and k not in env}
        stack_.enter_context(_environment(function_env))
        stack_.callback(_quiesce, deployment)
        # after the executions' stop above is registered: gone before it, so the stop at the
        # end puts nothing on the bus
        events = stack_.enter_context(awsevents.emitting(deployment.roles, account=ACCOUNT, region=REGION))
        yield LocalCloud(endpoint=endpoint, deployment=deployment, aws_events=events, realistic=account)


def _moto_api(endpoint: str, action: str, body: Mapping[str, Any] | None = None) -> None:
    request = urllib.request.Request(  # noqa: S310  # http to our own 127.0.0.1 server
        f"{endpoint}/moto-api/{action}", data=json.dumps(body or {}).encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310  # our own 127.0.0.1 server
        pass


def _quiesce(deployment: Deployment) -> None:
    """Before the server goes, nothing of this system may still run: executions run in
    moto's threads and invoke handlers, and a handler may start an execution. So: wait for
    the handlers, stop what executions run, and again until none was running (a handler or
    an execution that outlived its system would call and log into the next one)."""
    for _ in range(10):
        lambdas.settle()
        if not _stop_executions(deployment):
            return


def _stop_executions(deployment: Deployment) -> int:
    """Stop the running executions; how many there were."""
    sfn = clients.sfn()
    stopped = 0
    for machine in deployment.state_machines:
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine, statusFilter="RUNNING"):
            for execution in page["executions"]:
                sfn.stop_execution(executionArn=execution["executionArn"])
                stopped += 1
    return stopped


def typed(client: Any, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` with what a parameter made a string (a Number parameter is one) turned
    into the number the operation's input takes, as CloudFormation does."""
    shape = client.meta.service_model.operation_model(operation).input_shape
    return {k: _typed(shape.members[k], v) if k in shape.members else v for k, v in params.items()}


def _typed(shape: Any, value: Any) -> Any:
    if isinstance(value, str) and shape.type_name in ("integer", "long"):
        return int(value)
    if isinstance(value, str) and shape.type_name in ("double", "float"):
        return float(value)
    if isinstance(value, list) and shape.type_name == "list":
        return [_typed(shape.member, v) for v in value]
    if isinstance(value, dict) and shape.type_name == "structure":
        return {k: _typed(shape.members[k], v) if k in shape.members else v for k, v in value.items()}
    return value
