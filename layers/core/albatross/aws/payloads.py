"""Read claim-check payloads from the payload bucket (ingest); see
:mod:`albatross.contract.claim` for what they are and how they are checked."""

from __future__ import annotations

from albatross.aws import clients
from albatross.aws.errors import NotFound, UserError, aws_errors
from albatross.contract import ClaimError, PayloadRef


def fetch(ref: PayloadRef) -> bytes:
    """The payload's bytes; ClaimError when it is missing or may not be read (throttling
    and 5xx raise as themselves: the event is delivered again)."""
    try:
        with aws_errors():
            return clients.s3().get_object(Bucket=ref.bucket, Key=ref.key)["Body"].read()
    except (NotFound, UserError) as e:
        raise ClaimError(f"payload s3://{ref.bucket}/{ref.key} cannot be read: {e}") from e
