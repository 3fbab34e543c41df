"""The record of what Albatross last registered in a target group (ADR 0019): its form in
the state table, compact enough for a target group's 1,000 targets."""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PREFIX = "registered#"  # items of a group's partition: registered#<target group id>
# Above this many characters the list is compressed: 1,000 IPv4 targets are about 17 KB
# as text and about 5 KB packed, against DynamoDB's 400 KB item limit.
PACK_ABOVE = 2048


@dataclass(frozen=True)
class Registered:
    """A target group's record: its ARN, the targets registered (None: the record does
    not parse, so it is not trusted) and the version a conditional write compares."""

    arn: str
    targets: frozenset[tuple[str, int]] | None
    version: int


def encode(targets: Iterable[tuple[str, int]]) -> dict[str, dict[str, str]]:
    """The item attributes of a target set: ``targets`` (``address:port`` sorted, joined by
    commas) or, when long, ``packed`` (the same text, zlib-compressed, base64)."""
    text = ",".join(f"{address}:{port}" for address, port in sorted(set(targets)))
    if len(text) <= PACK_ABOVE:
        return {"targets": {"S": text}}
    return {"packed": {"S": base64.b64encode(zlib.compress(text.encode(), 9)).decode()}}


def decode(item: Mapping[str, Any]) -> frozenset[tuple[str, int]] | None:
    """The target set of an item's attributes; None when they do not parse."""
    try:
        if "packed" in item:
            text = zlib.decompress(base64.b64decode(item["packed"]["S"], validate=True)).decode()
        else:
            text = str(item["targets"]["S"])
        out = set()
        for one in text.split(",") if text else ():
            address, _, port = one.rpartition(":")  # an IPv6 address holds colons too
            if not address:
                return None
            out.add((address, int(port)))
        return frozenset(out)
    except (KeyError, TypeError, ValueError, binascii.Error, zlib.error):
        return None


def of_item(item: Mapping[str, Any]) -> Registered:
    try:
        version = int(item["n"]["N"])
    except (KeyError, TypeError, ValueError):
        return Registered(arn="", targets=None, version=-1)  # matches no write's condition: replaced whole
    return Registered(arn=str(item.get("arn", {}).get("S", "")), targets=decode(item), version=version)
