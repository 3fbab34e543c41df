"""The local DynamoDB's Query reads one partition (albatross.local.mends): the same
answers as moto's own, page by page, for the kinds of query the store makes, while it
looks at the partition's items only, as DynamoDB does, whatever the table's size."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto.dynamodb.models.table import Table

from albatross.local.mends import mend_moto

TABLE = "state"
PARTITIONS = ("grp#a", "grp#b", "obj#Ingress#x")
PER_PARTITION = 50

QUERIES: list[dict[str, Any]] = [
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "grp#b"}}},
    {
        "KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
        "ExpressionAttributeValues": {":p": {"S": "grp#a"}, ":s": {"S": "ing#1"}},
    },
    {
        "KeyConditionExpression": "pk = :p AND sk BETWEEN :lo AND :hi",
        "ExpressionAttributeValues": {":p": {"S": "grp#a"}, ":lo": {"S": "ing#10"}, ":hi": {"S": "ing#30"}},
        "ScanIndexForward": False,
    },
    {
        "KeyConditionExpression": "pk = :p",
        "FilterExpression": "n > :n",
        "ProjectionExpression": "pk, sk",
        "ExpressionAttributeValues": {":p": {"S": "obj#Ingress#x"}, ":n": {"N": "20"}},
    },
    {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "grp#none"}}},
    {  # an index's query is moto's own, untouched
        "IndexName": "byKind",
        "KeyConditionExpression": "kind = :k",
        "ExpressionAttributeValues": {":k": {"S": "even"}},
    },
]


@pytest.fixture
def dynamodb(moto_endpoint: str) -> Any:
    client: Any = boto3.client("dynamodb", endpoint_url=moto_endpoint)
    client.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
            {"AttributeName": "kind", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "byKind",
                "KeySchema": [{"AttributeName": "kind", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    for pk in PARTITIONS:
        for n in range(PER_PARTITION):
            client.put_item(
                TableName=TABLE,
                Item={
                    "pk": {"S": pk},
                    "sk": {"S": f"ing#{n}"},
                    "n": {"N": str(n)},
                    "kind": {"S": "even" if n % 2 == 0 else "odd"},
                    "body": {"S": "x" * n},
                },
            )
    return client


def pages(client: Any, query: dict[str, Any], limit: int | None) -> list[dict[str, Any]]:
    """Every page of the query, as DynamoDB answers it (items, counts, where it stopped)."""
    out, start = [], None
    while True:
        asked = {"TableName": TABLE, **query, **({"Limit": limit} if limit else {})}
        if start:
            asked["ExclusiveStartKey"] = start
        page = client.query(**asked)
        out.append({k: page.get(k) for k in ("Items", "Count", "ScannedCount", "LastEvaluatedKey")})
        start = page.get("LastEvaluatedKey")
        if not start:
            return out


@pytest.mark.parametrize("limit", [None, 7])
def test_a_query_answers_as_motos_own_does(dynamodb: Any, limit: int | None) -> None:
    expected = [pages(dynamodb, q, limit) for q in QUERIES]
    assert any(len(p) > 1 for p in expected) or limit is None  # the paged case does page
    with mend_moto():
        assert [pages(dynamodb, q, limit) for q in QUERIES] == expected


def test_a_query_looks_at_its_partition_only(dynamodb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with mend_moto():
        looked: list[int] = []
        items = Table.all_items

        def counted(self: Any) -> Any:
            found = items(self)
            looked.append(len(found))
            return found

        monkeypatch.setattr(Table, "all_items", counted)
        assert pages(dynamodb, QUERIES[0], None)[0]["Count"] == PER_PARTITION
        assert looked == [PER_PARTITION]  # not the table's 150
        looked.clear()
        dynamodb.scan(TableName=TABLE)
        assert looked == [PER_PARTITION * len(PARTITIONS)]  # a scan still reads them all
