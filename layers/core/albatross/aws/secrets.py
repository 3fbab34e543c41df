"""Read OIDC client credentials from the forwarder's Secrets Manager copies (ADR 0005).

The applier calls :func:`materialize` on a rule's properties right before CreateRule or
ModifyRule: each ``{"$secret", "key", "secretArn", "versionId"}`` becomes the value of
that key in that version of the copy. The values live only in that call's arguments:
never logged, never stored. Each is trimmed as LBC trims it
(:func:`albatross.contract.oidc.trimmed`): a forwarder of this version has done so
already, an older one had not.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from albatross.aws import clients
from albatross.aws.errors import NotFound, UserError, aws_errors
from albatross.contract.oidc import trimmed
from albatross.model.oidc import REFERENCE


def read(arn: str, version: str) -> dict[str, str]:
    """The copy's values (``clientID``, ``clientSecret``) in one version."""
    try:
        with aws_errors():
            found = clients.secretsmanager().get_secret_value(SecretId=arn, VersionId=version)
    except (NotFound, UserError) as e:
        raise UserError(
            f"the Secrets Manager copy {arn} (version {version}) cannot be read ({str(e).split(':', 1)[0]}); "
            "the forwarder writes it again when the Secret changes"
        ) from e
    try:
        values = json.loads(found.get("SecretString") or "")
    except ValueError:
        values = None
    if not isinstance(values, dict):
        raise UserError(f"the Secrets Manager copy {arn} (version {version}) is not a JSON object")
    return {str(k): str(v) for k, v in values.items()}


def materialize(value: Any, cache: dict[tuple[str, str], dict[str, str]] | None = None) -> Any:
    """``value`` with every resolved secret reference replaced by the secret's value
    (one read per copy and version); references without an ARN are left as they are."""
    cache = {} if cache is None else cache
    if isinstance(value, Mapping) and REFERENCE in value and value.get("secretArn") and value.get("versionId"):
        where = (str(value["secretArn"]), str(value["versionId"]))
        if where not in cache:
            cache[where] = read(*where)
        key = str(value.get("key"))
        if key not in cache[where]:
            raise UserError(f"the Secrets Manager copy of Secret {value[REFERENCE]} has no {key}")
        return trimmed(key, cache[where][key])
    if isinstance(value, Mapping):
        return {k: materialize(v, cache) for k, v in value.items()}
    if isinstance(value, list):
        return [materialize(v, cache) for v in value]
    return value
