"""OIDC authentication end to end (ADR 0005): the forwarder copies the Secret an Ingress
names into Secrets Manager and sends only the copy's ARN and version; the rule's
authenticate-oidc action gets the Secret's clientID and clientSecret, a rotated secret
updates the rule, a missing Secret is a Warning, and no event, snapshot or log line
carries the Secret's data. The forwarder reads Secrets by name only (no watch): a
Secret created after the Ingress, and a rotation, are taken at a Resync, here every
two seconds."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes import utils

from albatross.aws import clients
from albatross.local.demo import ingress_hostname
from albatross.local.system import LocalSystem, local_system
from albatross.model.names import TAG_OIDC_CREDENTIALS_VERSION
from tests.e2e.test_slice import NAME, NS, ROOT, events_for, tags
from tests.k8s_typing import body

A = "alb.ingress.kubernetes.io/"
CLIENT_ID = "albatross-client-7f3a"
SECRETS = ("s3cr3t-first-9d2c", "s3cr3t-rotated-41be")
IDP = {
    "issuer": "https://idp.example.com",
    "authorizationEndpoint": "https://idp.example.com/authorize",
    "tokenEndpoint": "https://idp.example.com/token",
    "userInfoEndpoint": "https://idp.example.com/userinfo",
    "secretName": "oidc-client",
}


def capture(system: LocalSystem) -> str:
    """A queue that receives a copy of every event the forwarder puts on the bus."""
    url = clients.sqs().create_queue(QueueName="captured-events")["QueueUrl"]
    arn = clients.sqs().get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = str(system.output("EventBusName"))
    clients.events().put_rule(Name="capture", EventBusName=bus, EventPattern='{"source": ["albatross.k8s"]}')
    clients.events().put_targets(Rule="capture", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    return url


def captured(url: str) -> list[str]:
    out: list[str] = []
    while messages := clients.sqs().receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        out += [m["Body"] for m in messages]
        for m in messages:
            clients.sqs().delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return out


def oidc_rule(system: LocalSystem) -> dict[str, Any] | None:
    elbv2 = clients.elbv2()
    for lb in elbv2.describe_load_balancers()["LoadBalancers"]:
        for listener in elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]:
            for rule in elbv2.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]:
                if any(a["Type"] == "authenticate-oidc" for a in rule["Actions"]):
                    return dict(rule)
    return None


def secret_data(client_secret: str) -> dict[str, str]:
    return {
        "clientID": base64.b64encode(CLIENT_ID.encode()).decode(),
        "clientSecret": base64.b64encode(client_secret.encode()).decode(),
    }


@pytest.fixture
def system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalSystem]:
    """The offline system, its forwarder sending a Resync (hence reading the Secrets
    Ingresses name) every two seconds instead of ten minutes."""
    monkeypatch.setenv("RESYNC_SECONDS", "2")
    with local_system(ROOT, work_dir=tmp_path) as running:
        yield running


def test_oidc_credentials_reach_the_rule_through_secrets_manager_only(system: LocalSystem) -> None:
    queue = capture(system)
    certificate = clients.acm().request_certificate(DomainName="game.example.com")["CertificateArn"]
    for doc in yaml.safe_load_all((ROOT / "examples/2048/2048.yaml").read_text()):
        if doc["kind"] == "Ingress":
            doc["metadata"]["annotations"].update(
                {
                    A + "certificate-arn": certificate,
                    A + "listen-ports": '[{"HTTPS": 443}]',
                    A + "auth-type": "oidc",
                    A + "auth-idp-oidc": json.dumps(IDP),
                }
            )
        utils.create_from_dict(system.api(), doc)  # type: ignore[no-untyped-call]  # untyped in the client

    # 1. the Secret does not exist yet: a Warning, and nothing is built
    def missing() -> list[tuple[str, str, str]]:
        return [e for e in events_for(system, NS, NAME) if e[1] == "FailedBuildModel"]

    [(_, _, message)] = system.wait_for("the missing Secret warning", missing, timeout=30)[:1]
    assert "OIDC client Secret game-2048/oidc-client not found" in message
    assert clients.elbv2().describe_load_balancers()["LoadBalancers"] == []

    # 2. the Secret arrives: copied, referenced, and the rule authenticates with it
    core = k8s.CoreV1Api(system.api())
    core.create_namespaced_secret(NS, body({"metadata": {"name": "oidc-client"}, "data": secret_data(SECRETS[0])}))
    system.wait_for("the Ingress address", lambda: ingress_hostname(system, NS, NAME))
    rule = oidc_rule(system)
    assert rule is not None
    config = rule["Actions"][0]["AuthenticateOidcConfig"]
    assert (config["ClientId"], config["Issuer"]) == (CLIENT_ID, IDP["issuer"])
    sm = clients.secretsmanager()
    copy = sm.describe_secret(SecretId=f"albatross/{system.cluster}/{NS}/oidc-client")
    assert {"Key": "elbv2.k8s.aws/cluster", "Value": system.cluster} in copy["Tags"]
    first = tags(rule["RuleArn"])[TAG_OIDC_CREDENTIALS_VERSION]
    assert first in copy["VersionIdsToStages"]

    # 3. the client secret is rotated: a new version, and the rule takes it
    core.patch_namespaced_secret("oidc-client", NS, {"data": secret_data(SECRETS[1])})

    def rotated() -> bool:
        found = oidc_rule(system)
        return found is not None and tags(found["RuleArn"])[TAG_OIDC_CREDENTIALS_VERSION] != first

    system.wait_for("the rule to take the rotated secret", rotated, timeout=30)
    rule = oidc_rule(system)
    assert rule is not None
    # moto keeps what it was given (AWS never shows a client secret)
    assert rule["Actions"][0]["AuthenticateOidcConfig"]["ClientSecret"] == SECRETS[1]
    second = tags(rule["RuleArn"])[TAG_OIDC_CREDENTIALS_VERSION]
    value = sm.get_secret_value(SecretId=copy["ARN"], VersionId=second)["SecretString"]
    assert json.loads(value) == {"clientID": CLIENT_ID, "clientSecret": SECRETS[1]}

    # 4. no secret material in what went to EventBridge, into the state table or the log
    sent = captured(queue)
    secret_events = [json.loads(b)["detail"] for b in sent if json.loads(b)["detail-type"] == "Secret"]
    assert secret_events
    assert all(set(e["object"]) <= {"apiVersion", "kind", "metadata", "secretsManager"} for e in secret_events)
    table = str(system.output("StateTableName"))
    stored = json.dumps(clients.dynamodb().scan(TableName=table)["Items"])
    forwarder_log = system.log_path.read_text()
    for text in (*SECRETS, CLIENT_ID, *(base64.b64encode(s.encode()).decode() for s in SECRETS)):
        assert not any(text in b for b in sent), text
        assert text not in stored, text
        assert text not in forwarder_log, text
