"""The record of a target group's registrations (ADR 0019) as the state table holds it:
every target comes back as written (IPv4, IPv6, instance ids), a target group's quota of
targets fits an item with room to spare (DynamoDB's item limit is 400 KB), and a record
that does not parse is not trusted (None) rather than read as empty."""

from __future__ import annotations

import base64
import zlib

import pytest

from albatross.model.limits import TARGETS_PER_TARGET_GROUP
from albatross.store.registered import PACK_ABOVE, decode, encode, of_item

ITEM_LIMIT = 400 * 1024  # DynamoDB's item size limit


def test_targets_of_every_kind_come_back_as_written() -> None:
    targets = frozenset({("10.0.1.1", 8080), ("2600:1f18:abcd::7", 80), ("i-0123456789abcdef0", 30080)})
    assert decode(encode(targets)) == targets
    assert decode(encode(set())) == frozenset()


def test_a_full_target_group_is_packed_small() -> None:
    targets = frozenset((f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", 8080) for i in range(TARGETS_PER_TARGET_GROUP))
    attrs = encode(targets)
    assert set(attrs) == {"packed"}
    size = len(attrs["packed"]["S"])
    assert size < ITEM_LIMIT / 20, size
    assert decode(attrs) == targets
    # a short list stays readable text
    assert encode({("10.0.0.1", 80)}) == {"targets": {"S": "10.0.0.1:80"}}
    assert len(",".join(f"{a}:{p}" for a, p in sorted(targets))) > PACK_ABOVE


@pytest.mark.parametrize(
    "attrs",
    [
        {},
        {"targets": {"S": "10.0.0.1"}},  # no port
        {"targets": {"S": "10.0.0.1:http"}},
        {"targets": {"S": ":80"}},
        {"packed": {"S": "not base64!"}},
        {"packed": {"S": base64.b64encode(b"not zlib").decode()}},
        {"packed": {"S": base64.b64encode(zlib.compress(b"\xff\xfe")).decode()}},  # not UTF-8
    ],
)
def test_a_record_that_does_not_parse_is_not_trusted(attrs: dict[str, dict[str, str]]) -> None:
    assert decode(attrs) is None
    item = {"arn": {"S": "arn:tg"}, "n": {"N": "3"}, **attrs}
    assert of_item(item).targets is None


def test_an_item_without_a_version_is_not_trusted() -> None:
    found = of_item({"arn": {"S": "arn:tg"}, "targets": {"S": "10.0.0.1:80"}})
    assert found.targets is None
    found = of_item({"arn": {"S": "arn:tg"}, "n": {"N": "2"}, "targets": {"S": "10.0.0.1:80"}})
    assert (found.arn, found.targets, found.version) == ("arn:tg", frozenset({("10.0.0.1", 80)}), 2)
