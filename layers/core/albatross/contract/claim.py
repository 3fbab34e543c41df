"""Claim checks: a change whose EventBridge entry would exceed 256 KB travels through S3.

The forwarder PUTs the full Detail (the inline form, with ``object``) to the payload
bucket under a key derived from the change and the sha256 of its bytes, so a retried
PUT writes the same object; the entry carries the same cluster, kind, action, key and
resourceVersion plus ``objectRef: {bucket, key, sha256}``. Ingest reads the object,
checks the hash and the fields, and handles the change as if it had come inline. Pure:
the S3 calls are the caller's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from albatross.contract import (
    RESYNC,
    Claim,
    ClaimError,
    ContractError,
    ObjectChange,
    ObjectClaim,
    PayloadRef,
    Resync,
    ResyncClaim,
    parse_detail,
)

# Every payload lives under this prefix: the forwarder may write only there, ingest read.
PAYLOAD_PREFIX = "objects/"


def payload_key(*, cluster: str, kind: str, key: str, resource_version: str, digest: str) -> str:
    """``objects/<cluster>/<kind>/<namespace>/<name>/<resourceVersion>-<sha256[:16]>.json``
    (a Resync: ``objects/<cluster>/Resync/<sha256[:16]>.json``)."""
    if kind == RESYNC:
        return f"{PAYLOAD_PREFIX}{cluster}/{RESYNC}/{digest[:16]}.json"
    return f"{PAYLOAD_PREFIX}{cluster}/{kind}/{key}/{resource_version}-{digest[:16]}.json"


def payload_body(detail: Mapping[str, Any]) -> bytes:
    """The bytes stored for a Detail (one canonical JSON form, so equal Details hash equal)."""
    return json.dumps(detail, separators=(",", ":"), sort_keys=True).encode()


def claim_check(detail: Mapping[str, Any], *, bucket: str) -> tuple[Claim, bytes]:
    """The claim for an inline Detail (an object change or a Resync) and the bytes to PUT
    at ``claim.ref``."""
    change = parse_detail(detail)
    body = payload_body(detail)
    digest = hashlib.sha256(body).hexdigest()
    if isinstance(change, Resync):
        key = payload_key(cluster=change.cluster, kind=RESYNC, key="", resource_version="", digest=digest)
        return ResyncClaim(cluster=change.cluster, ref=PayloadRef(bucket=bucket, key=key, sha256=digest)), body
    if not isinstance(change, ObjectChange):
        raise ContractError("a claim check cannot stand for another claim check")
    key = payload_key(
        cluster=change.cluster,
        kind=change.kind,
        key=change.key,
        resource_version=change.resource_version,
        digest=digest,
    )
    return (
        ObjectClaim(
            cluster=change.cluster,
            kind=change.kind,
            action=change.action,
            key=change.key,
            resource_version=change.resource_version,
            ref=PayloadRef(bucket=bucket, key=key, sha256=digest),
        ),
        body,
    )


def open_claim(claim: Claim, body: bytes) -> ObjectChange | Resync:
    """The change (or Resync) a claim stands for, from the bytes read at its reference;
    ClaimError when they are not what the claim names."""
    where = f"s3://{claim.ref.bucket}/{claim.ref.key}"
    digest = hashlib.sha256(body).hexdigest()
    if digest != claim.ref.sha256:
        raise ClaimError(f"payload {where} has sha256 {digest}, the event names {claim.ref.sha256}")
    try:
        detail = json.loads(body)
        change = parse_detail(detail)
    except ValueError as e:  # not JSON (JSONDecodeError), or not a detail (ContractError)
        raise ClaimError(f"payload {where} is not a valid detail: {e}") from e
    if isinstance(claim, ResyncClaim):
        if not isinstance(change, Resync) or change.cluster != claim.cluster:
            raise ClaimError(f"payload {where} is not a Resync of cluster {claim.cluster}")
        return change
    if not isinstance(change, ObjectChange):
        raise ClaimError(f"payload {where} is not an inline object change")
    named = (claim.cluster, claim.kind, claim.action, claim.key, claim.resource_version)
    found = (change.cluster, change.kind, change.action, change.key, change.resource_version)
    if named != found:
        raise ClaimError(f"payload {where} holds {'/'.join(found)}, the event names {'/'.join(named)}")
    return change
