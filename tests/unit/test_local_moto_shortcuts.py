"""moto_shortcuts: conditions and update expressions parsed once, scalar attribute values written
as held; every answer and refusal byte for byte moto's own."""
from __future__ import annotations

from datetime import datetime, timezone

import boto3
import pytest
from botocore.exceptions import ClientError

from automations.clock import MovableClock
from automations_local import moto_shortcuts, patches

TABLE = "shortcuts"
EVERY_TYPE = {"PK": {"S": "A"}, "SK": {"S": "every"}, "s": {"S": "text"}, "empty": {"S": ""}, "n": {"N": "5"},
              "zero": {"N": "0.50"}, "b": {"B": b"\x00\xffbytes"}, "ss": {"SS": ["x", "y"]}, "ns": {"NS": ["1", "2"]},
              "bs": {"BS": [b"a", b"b"]}, "yes": {"BOOL": True}, "no": {"BOOL": False}, "null": {"NULL": True},
              "l": {"L": [{"S": "in a list"}, {"N": "7"}, {"M": {"deep": {"BOOL": False}}}, {"L": []}]},
              "m": {"M": {"s": {"S": "in a map"}, "null": {"NULL": True}, "empty": {"M": {}}}}}


def key(sk: str) -> dict:
    return {"PK": {"S": "A"}, "SK": {"S": sk}}


def ticket_writes(job: str) -> list[dict]:
    """A ticket, its tag's counter, its job's result: the items seeding writes, each conditioned as it is."""
    return [
        {"Put": {"TableName": TABLE, "Item": {**key("ticket-1"), "subject": {"S": "Hi"}},
                 "ConditionExpression": "attribute_not_exists(PK)"}},
        {"Update": {"TableName": TABLE, "Key": key("tag-vip"), "UpdateExpression": "ADD ticket_count :d",
                    "ExpressionAttributeValues": {":d": {"N": "1"}}}},
        {"Update": {"TableName": TABLE, "Key": key("every"), "UpdateExpression": "SET #r = :r",
                    "ConditionExpression": "attribute_exists(PK) AND attribute_not_exists(#r)",
                    "ExpressionAttributeNames": {"#r": "result"}, "ExpressionAttributeValues": {":r": {"S": job}},
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
    ]


def calls(db, bytes_condition: bool = True) -> None:
    """Writes and reads the product makes, and the refusals they can meet, in order (and a
    condition on bytes, which the runtime's patches cannot take: the product writes none)."""
    def call(method: str, **kwargs) -> None:
        try:
            getattr(db, method)(**kwargs)
        except ClientError:
            pass

    db.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                    KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
                    AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                                          {"AttributeName": "SK", "AttributeType": "S"}])
    call("put_item", TableName=TABLE, Item=EVERY_TYPE)
    call("transact_write_items", TransactItems=ticket_writes("job-1"))
    call("transact_write_items", TransactItems=ticket_writes("job-2"))  # each condition fails: cancelled, with reasons
    for n in ("5", "6", "5"):  # one condition, other values: each decides on its own
        call("put_item", TableName=TABLE, Item=EVERY_TYPE, ConditionExpression="n = :n",
             ExpressionAttributeValues={":n": {"N": n}})
    for name in ("n", "zero"):  # one condition, other names
        call("update_item", TableName=TABLE, Key=key("every"), UpdateExpression="SET seen = :t",
             ConditionExpression="#a = :five", ExpressionAttributeNames={"#a": name},
             ExpressionAttributeValues={":five": {"N": "5"}, ":t": {"BOOL": True}}, ReturnValues="ALL_NEW")
    for text in ("one", "two"):  # one update, other values: each resolved on its own copy of the tree
        call("update_item", TableName=TABLE, Key=key("every"), UpdateExpression="SET s = :x, n = n + :d",
             ExpressionAttributeValues={":x": {"S": text}, ":d": {"N": str(len(text))}}, ReturnValues="ALL_NEW")
    for _ in range(2):  # refusals are not remembered as answers
        call("update_item", TableName=TABLE, Key=key("every"), UpdateExpression="SET = :x",
             ExpressionAttributeValues={":x": {"S": "x"}})
        call("update_item", TableName=TABLE, Key=key("every"), UpdateExpression="SET s = :x",
             ConditionExpression="name = :x", ExpressionAttributeValues={":x": {"S": "x"}})
        if bytes_condition:
            call("put_item", TableName=TABLE, Item=key("bytes"), ConditionExpression="b = :b",
                 ExpressionAttributeValues={":b": {"B": b"\x00\xffbytes"}})
    call("get_item", TableName=TABLE, Key=key("every"))
    call("query", TableName=TABLE, KeyConditionExpression="PK = :a", ExpressionAttributeValues={":a": {"S": "A"}})
    call("batch_get_item", RequestItems={TABLE: {"Keys": [key("every"), key("tag-vip"), key("ghost")]}})
    call("scan", TableName=TABLE, FilterExpression="attribute_exists(l)")
    call("delete_table", TableName=TABLE)


def answers(db) -> list[tuple[int, bytes]]:
    seen: list[tuple[int, bytes]] = []
    db.meta.events.register("before-parse.dynamodb.*", lambda response_dict, **_: seen.append(
        (response_dict["status_code"], response_dict["body"])))
    calls(db)
    return seen[1:-1]  # the table's creation and deletion (stamped with the time) left out


def test_every_answer_and_refusal_is_motos_own(empty_aws, monkeypatch):
    from moto.core import serialize

    db = boto3.client("dynamodb")
    expected = answers(db)
    written_as_held = []
    default_serialize = serialize.BaseJSONSerializer._default_serialize
    monkeypatch.setattr(serialize.BaseJSONSerializer, "_default_serialize",
                        lambda *args: written_as_held.append(1) or default_serialize(*args))
    with pytest.MonkeyPatch.context() as shortcuts:
        moto_shortcuts.install(shortcuts.setattr)
        got = answers(boto3.client("dynamodb"))
    assert len(got) == len(expected) == 20
    assert [status for status, _ in got].count(400) == 9  # the refusals among them
    for n, (answer, moto_s) in enumerate(zip(got, expected)):
        assert answer == moto_s, n
    assert b"CancellationReasons" in got[2][1] and b"job-1" in got[2][1]
    assert written_as_held  # the shortcut was taken


def test_a_condition_and_an_update_are_parsed_once_for_what_they_name(empty_aws, monkeypatch):
    from moto.dynamodb import comparisons
    from moto.dynamodb.parsing import tokens

    conditions, updates = [], []
    parse, tokenize = comparisons.ConditionExpressionParser.parse, tokens.ExpressionTokenizer.make_list.__func__
    monkeypatch.setattr(comparisons.ConditionExpressionParser, "parse",
                        lambda parser: conditions.append(parser.condition_expression) or parse(parser))
    monkeypatch.setattr(tokens.ExpressionTokenizer, "make_list",
                        classmethod(lambda cls, text: updates.append(text) or tokenize(cls, text)))
    patches.install(MovableClock(datetime(2031, 3, 4, tzinfo=timezone.utc), frozen=True))  # as the runtime runs
    try:
        calls(boto3.client("dynamodb"), bytes_condition=False)
    finally:
        patches.uninstall()
    # each once (a refused one each time it is asked), where moto parsed them 2-3 times a write
    assert conditions.count("attribute_not_exists(PK)") == 1
    assert conditions.count("attribute_exists(PK) AND attribute_not_exists(#r)") == 1  # its :r told apart
    assert conditions.count("n = :n") == 2  # 5, then 6; 5 again remembered
    assert conditions.count("#a = :five") == 2  # #a is n, then zero
    assert conditions.count("name = :x") == 2  # refused each time
    assert updates.count("ADD ticket_count :d") == 1 and updates.count("SET #r = :r") == 1
    assert updates.count("SET = :x") == 2
