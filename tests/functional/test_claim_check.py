"""Claim checks against moto's S3 and DynamoDB: ingest stores a claim-checked change
exactly like the inline one, and refuses a payload that is missing, tampered with, in
another bucket or of another change, with an error that names it (the handler then
fails, so EventBridge retries and dead-letters the event: it is kept). The sender PUTs
an oversize detail under one key per content and sends the reference, or, without a
bucket, drops it (counted and logged)."""

from __future__ import annotations

import json

import pytest

from albatross.aws import clients
from albatross.contract import MAX_ENTRY_BYTES, ClaimError, ObjectChange, ObjectClaim, PayloadRef, parse_detail
from albatross.contract.claim import claim_check
from albatross.controller import ingest
from albatross.controller.settings import Settings
from albatross.store.table import Store
from albatross_forwarder.sender import Sender
from tests.functional import stack
from tests.functional.test_store import table
from tests.helpers import load_event

BUCKET = "payloads"


def settings(queue_url: str) -> Settings:
    return stack.settings(
        cluster="my-cluster", work_queue_url=queue_url, writeback_queue_url=queue_url, payload_bucket=BUCKET
    )


@pytest.fixture
def cloud(moto_endpoint: str) -> tuple[Settings, Store]:
    clients.s3().create_bucket(Bucket=BUCKET)
    url = clients.sqs().create_queue(
        QueueName="work.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]
    return settings(url), table()


def claimed(**changes: str) -> tuple[ObjectClaim, bytes]:
    detail = load_event("ingress-upsert", "v2")["detail"]
    claim, body = claim_check({**detail, **changes}, bucket=BUCKET)
    assert isinstance(claim, ObjectClaim)
    return claim, body


def test_a_claim_checked_change_is_stored_like_the_inline_one(cloud: tuple[Settings, Store]) -> None:
    config, store = cloud
    claim, body = claimed()
    clients.s3().put_object(Bucket=BUCKET, Key=claim.ref.key, Body=body)
    change = ingest.redeem(claim, settings=config)
    assert isinstance(change, ObjectChange)
    assert change == parse_detail(load_event("ingress-upsert", "v2")["detail"])
    assert ingest.apply_change(change, settings=config, store=store, event_id="e1") == {"game-2048/game-2048"}
    stored = store.get_objects("Ingress", ["game-2048/game-2048"])["game-2048/game-2048"]
    assert stored == change.object


def test_a_payload_that_does_not_match_the_claim_is_refused(cloud: tuple[Settings, Store]) -> None:
    config, store = cloud
    claim, body = claimed()
    tampered = body.replace(b"internet-facing", b"internal")
    clients.s3().put_object(Bucket=BUCKET, Key=claim.ref.key, Body=tampered)
    with pytest.raises(ClaimError, match=f"payload s3://{BUCKET}/{claim.ref.key} has sha256"):
        ingest.redeem(claim, settings=config)
    assert store.get_objects("Ingress", ["game-2048/game-2048"]) == {}  # nothing stored


def test_a_missing_payload_or_another_bucket_is_refused(cloud: tuple[Settings, Store]) -> None:
    config, _ = cloud
    claim, _ = claimed()
    with pytest.raises(ClaimError, match="cannot be read: NoSuchKey"):
        ingest.redeem(claim, settings=config)
    elsewhere = ObjectClaim(**{**claim.__dict__, "ref": PayloadRef("someone-elses", claim.ref.key, claim.ref.sha256)})
    with pytest.raises(ClaimError, match="'someone-elses' is not this stack's"):
        ingest.redeem(elsewhere, settings=config)


def test_a_payload_of_another_change_is_refused(cloud: tuple[Settings, Store]) -> None:
    config, _ = cloud
    claim, _ = claimed()
    other, body = claimed(action="delete")
    clients.s3().put_object(Bucket=BUCKET, Key=claim.ref.key, Body=body)
    forged = ObjectClaim(**{**claim.__dict__, "ref": PayloadRef(BUCKET, claim.ref.key, other.ref.sha256)})
    with pytest.raises(ClaimError, match="holds my-cluster/Ingress/delete/"):
        ingest.redeem(forged, settings=config)
    assert isinstance(parse_detail(json.loads(body)), ObjectChange)


def test_the_sender_claims_oversize_entries_and_drops_them_without_a_bucket(
    cloud: tuple[Settings, Store], caplog: pytest.LogCaptureFixture
) -> None:
    detail = load_event("ingress-upsert", "v2")["detail"]
    annotations = {**detail["object"]["metadata"]["annotations"], "example.com/notes": "n" * MAX_ENTRY_BYTES}
    big = {
        **detail,
        "object": {**detail["object"], "metadata": {**detail["object"]["metadata"], "annotations": annotations}},
    }
    without = Sender(events_client=clients.events(), bus_name="bus")
    without.submit(big)
    assert (without.dropped, without.pending()) == (1, 0)
    assert "entry too large and no payload bucket set" in caplog.text

    sender = Sender(events_client=clients.events(), bus_name="bus", s3_client=clients.s3(), bucket=BUCKET)
    sender.submit(big)
    sender.submit(big)  # sent again (a retry, a relist): the same object, the same reference
    entries = [sender._queue.get_nowait()[1] for _ in range(sender.pending())]  # (when queued, entry)
    assert entries[0] == entries[1]
    assert sender.claimed == 2
    claim = parse_detail(json.loads(entries[0]["Detail"]))
    assert isinstance(claim, ObjectClaim)
    [stored] = clients.s3().list_objects_v2(Bucket=BUCKET)["Contents"]
    assert stored["Key"] == claim.ref.key
    redeemed = ingest.redeem(claim, settings=cloud[0])
    assert isinstance(redeemed, ObjectChange)
    assert redeemed.object == big["object"]
