"""The local runtime's patches: a resolver state per thread, a transaction that saves only the items it touches (and
still rolls back as moto does), a condition parsed once, and EventBridge events stamped on the runtime's clock."""
from __future__ import annotations

import copy
import gc
import json
import threading
import tracemalloc
from datetime import datetime, timezone

import boto3
import pytest
from botocore.exceptions import ClientError

from automations.clock import MovableClock
from automations_local import patches
from automations_local.template import ACCOUNT_ID, DEFAULT_REGION
from support import create_indexed_table

TABLE = "patched"
LOCAL_TIME = datetime(2031, 3, 4, 5, 6, 7, tzinfo=timezone.utc)


@pytest.fixture
def aws(empty_aws):
    patches.install(MovableClock(LOCAL_TIME, frozen=True))
    try:
        yield
    finally:
        patches.uninstall()


@pytest.fixture
def db(aws):
    client = boto3.client("dynamodb")
    client.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
                        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                                              {"AttributeName": "SK", "AttributeType": "S"}])
    for n in range(50):
        client.put_item(TableName=TABLE, Item={"PK": {"S": "A"}, "SK": {"S": f"{n:03}"}, "n": {"N": str(n)},
                                               "tags": {"L": [{"M": {"x": {"S": "deep"}}}]}})
    return client


def everything(db) -> list[dict]:
    return sorted(db.scan(TableName=TABLE)["Items"], key=lambda item: (item["PK"]["S"], item["SK"]["S"]))


def key(sk: str) -> dict:
    return {"PK": {"S": "A"}, "SK": {"S": sk}}


def writes(last_condition: str) -> list[dict]:
    """A new item, a changed one, a deleted one, then a condition on a fourth."""
    return [
        {"Put": {"TableName": TABLE, "Item": {**key("new"), "n": {"N": "1"}}}},
        {"Update": {"TableName": TABLE, "Key": key("001"), "UpdateExpression": "SET n = :n, tags[0].x = :x",
                    "ExpressionAttributeValues": {":n": {"N": "100"}, ":x": {"S": "changed"}}}},
        {"Delete": {"TableName": TABLE, "Key": key("002")}},
        {"ConditionCheck": {"TableName": TABLE, "Key": key("003"), "ConditionExpression": last_condition,
                            "ExpressionAttributeValues": {":three": {"N": "3"}}}},
    ]


def moto_table():
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[ACCOUNT_ID][DEFAULT_REGION].tables[TABLE]


def test_a_failed_transaction_leaves_every_item_as_before(db):
    before, table = everything(db), moto_table()
    with pytest.raises(ClientError) as refused:
        db.transact_write_items(TransactItems=writes("n = :three AND attribute_not_exists(n)"))
    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
    assert everything(db) == before
    assert moto_table() is table  # rolled back item by item, not by swapping in a copy of the table


def test_a_refused_transaction_of_one_item_twice_leaves_it_as_before(db):
    before = everything(db)
    twice = [{"Put": {"TableName": TABLE, "Item": {**key("001"), "n": {"N": "7"}}}},
             {"Delete": {"TableName": TABLE, "Key": key("001")}}]
    with pytest.raises(ClientError):
        db.transact_write_items(TransactItems=twice)
    assert everything(db) == before


def test_a_successful_transaction_applies_every_write(db):
    before = {item["SK"]["S"]: item for item in everything(db)}
    db.transact_write_items(TransactItems=writes("n = :three"))
    after = {item["SK"]["S"]: item for item in everything(db)}
    assert after["new"]["n"] == {"N": "1"}
    assert after["001"]["n"] == {"N": "100"} and after["001"]["tags"] == {"L": [{"M": {"x": {"S": "changed"}}}]}
    assert "002" not in after
    untouched = set(before) - {"001", "002"}
    assert {sk: after[sk] for sk in untouched} == {sk: before[sk] for sk in untouched}


def test_a_condition_is_parsed_once_and_still_decides_each_write(db, monkeypatch):
    from moto.dynamodb import comparisons

    parse, parsed = comparisons.ConditionExpressionParser.parse, []
    monkeypatch.setattr(comparisons.ConditionExpressionParser, "parse",
                        lambda parser: parsed.append(1) or parse(parser))
    refused, absent, five = [], "attribute_not_exists(PK)", {":n": {"N": "5"}}
    for sk, condition, values in (("new1", absent, None), ("new2", absent, None), ("001", absent, None),
                                  ("005", "n = :n", five), ("006", "n = :n", five)):
        try:
            db.put_item(TableName=TABLE, Item={**key(sk), "n": {"N": "0"}}, ConditionExpression=condition,
                        **({"ExpressionAttributeValues": values} if values else {}))
        except ClientError as error:
            refused.append((sk, error.response["Error"]["Code"]))
    assert refused == [("001", "ConditionalCheckFailedException"), ("006", "ConditionalCheckFailedException")]
    # each condition with the values it names once, its request's validation included (was 5 + 5)
    assert len(parsed) == 2


def test_tables_copied_outside_a_transaction_are_still_deep_copies(db):
    table = moto_table()
    duplicate = copy.deepcopy(table)
    assert duplicate is not table and duplicate.items is not table.items
    assert duplicate.items == table.items


def test_bus_events_are_stamped_on_the_local_clock(aws):
    events, sqs = boto3.client("events"), boto3.client("sqs")
    queue = sqs.create_queue(QueueName="seen")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="all", EventPattern=json.dumps({"source": ["shop"]}))
    events.put_targets(Rule="all", Targets=[{"Id": "q", "Arn": arn}])
    events.put_events(Entries=[{"Source": "shop", "DetailType": "order", "Detail": "{}"}])
    event = json.loads(sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"])
    assert event["time"] == "2031-03-04T05:06:07Z"


def test_a_received_message_is_checked_against_its_queues_retention_without_counting_the_queue(aws, monkeypatch):
    from moto.sqs.models import SQSBackend, sqs_backends

    sqs = boto3.client("sqs")
    queue = sqs.create_queue(QueueName="retained", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
    sqs.send_message_batch(QueueUrl=queue, Entries=[{"Id": str(n), "MessageBody": f"m{n}"} for n in range(10)])
    stored = sqs_backends[ACCOUNT_ID][DEFAULT_REGION].get_queue("retained")._messages
    for message in stored[6:]:  # sent 61 s ago: past the queue's retention
        message.sent_timestamp -= 61_000
    counted = []
    everything = SQSBackend.get_queue_attributes
    monkeypatch.setattr(SQSBackend, "get_queue_attributes", lambda *a: counted.append(a) or everything(*a))
    received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in received) == [f"m{n}" for n in range(6)]  # moto stops at an expired one
    assert counted == []  # moto computed every attribute of the queue three times per message


def test_each_thread_resolves_its_own_event(aws):
    """Two invocations at once, in two resolvers: each handler sees its own event and context
    throughout (Powertools alone keeps them on a class every resolver shares)."""
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    both_inside = threading.Barrier(2)
    seen = {}

    def resolver():
        app = APIGatewayHttpResolver()

        @app.post("/echo")
        def echo():
            before = app.current_event.json_body["n"]
            both_inside.wait(5)  # the other invocation has started meanwhile
            return {"before": before, "after": app.current_event.json_body["n"], "context": app.lambda_context}

        return app

    def invoke(n: int) -> None:
        event = {"version": "2.0", "routeKey": "POST /echo", "rawPath": "/echo", "body": json.dumps({"n": n}),
                 "requestContext": {"http": {"method": "POST", "path": "/echo"}, "stage": "$default"},
                 "isBase64Encoded": False}
        seen[n] = json.loads(resolver().resolve(event, f"context {n}")["body"])

    threads = [threading.Thread(target=invoke, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {n: {"before": n, "after": n, "context": f"context {n}"} for n in (1, 2)}


# -- Query reads its partition only ----------------------------------------------------------------
def _indexed_table(client, name):
    create_indexed_table(client, name)
    for n in range(60):
        item = {"PK": {"S": f"P{n % 3}"}, "SK": {"S": f"{n:03}"}}
        if n % 4:  # a sparse index: a quarter of the items are not in it
            item.update(G={"S": f"G{n % 5}"}, GS={"S": f"{(n * 7) % 60:03}"})
        client.put_item(TableName=name, Item=item)


def _pages(client, **query):
    """Every page of a Query, 4 items at a time, as (items, last key) pairs."""
    pages, start = [], None
    while True:
        page = client.query(**query, Limit=4, **({"ExclusiveStartKey": start} if start else {}))
        start = page.get("LastEvaluatedKey")
        pages.append((page["Items"], start))
        if start is None:
            return pages


QUERIES = [
    {"KeyConditionExpression": "PK = :p", "ExpressionAttributeValues": {":p": {"S": "P1"}}},
    {"KeyConditionExpression": "PK = :p AND SK > :s", "ScanIndexForward": False,
     "ExpressionAttributeValues": {":p": {"S": "P2"}, ":s": {"S": "020"}}},
    {"KeyConditionExpression": "PK = :p", "ExpressionAttributeValues": {":p": {"S": "nobody"}}},
    {"IndexName": "ByG", "KeyConditionExpression": "G = :g", "ExpressionAttributeValues": {":g": {"S": "G2"}}},
    {"IndexName": "ByG", "KeyConditionExpression": "G = :g AND begins_with(GS, :s)", "ScanIndexForward": False,
     "ExpressionAttributeValues": {":g": {"S": "G1"}, ":s": {"S": "0"}}},
    {"IndexName": "ByG", "KeyConditionExpression": "G = :g", "ExpressionAttributeValues": {":g": {"S": "none"}}},
    *({"IndexName": "ByG", "KeyConditionExpression": "G = :g", "ExpressionAttributeValues": {":g": {"S": f"solo{n}"}}}
      for n in range(1, 5)),
]


def _answers(client, name):
    return [_pages(client, TableName=name, **query) for query in QUERIES]


def _change(client, name):
    """A put into an index partition, an update moving an item between partitions, a delete, and
    a transaction that fails (and so changes nothing); index partitions of one item becoming two
    (by a put, by an update), one again (an item moved out, deleted), none, and one replaced."""
    client.put_item(TableName=name, Item={"PK": {"S": "P1"}, "SK": {"S": "new"}, "G": {"S": "G2"}, "GS": {"S": "999"}})
    client.update_item(TableName=name, Key={"PK": {"S": "P1"}, "SK": {"S": "001"}},
                       UpdateExpression="SET G = :g", ExpressionAttributeValues={":g": {"S": "G1"}})
    client.delete_item(TableName=name, Key={"PK": {"S": "P2"}, "SK": {"S": "002"}})

    def solo(sk, g, gs="1"):
        client.put_item(TableName=name, Item={"PK": {"S": "P0"}, "SK": {"S": sk}, "G": {"S": g}, "GS": {"S": gs}})

    def move(sk, g):
        client.update_item(TableName=name, Key={"PK": {"S": "P0"}, "SK": {"S": sk}},
                           UpdateExpression="SET G = :g", ExpressionAttributeValues={":g": {"S": g}})

    solo("s1", "solo1")
    solo("s2", "solo2")
    move("s2", "solo1")  # solo1: two; solo2: none
    solo("s3", "solo1", "0")  # three
    move("s1", "solo3")  # two; solo3: one
    client.delete_item(TableName=name, Key={"PK": {"S": "P0"}, "SK": {"S": "s3"}})  # solo1: one
    solo("s4", "solo4")
    solo("s4", "solo4", "2")  # replaced
    solo("s5", "solo4")
    move("s5", "gone")  # solo4: one
    with pytest.raises(ClientError):
        client.transact_write_items(TransactItems=[
            {"Put": {"TableName": name, "Item": {"PK": {"S": "P1"}, "SK": {"S": "ghost"}, "G": {"S": "G2"},
                                                 "GS": {"S": "000"}}}},
            {"ConditionCheck": {"TableName": name, "Key": {"PK": {"S": "P1"}, "SK": {"S": "004"}},
                                "ConditionExpression": "attribute_not_exists(PK)"}}])


def test_a_query_answers_as_moto_does_before_and_after_writes(empty_aws):
    client = boto3.client("dynamodb")
    _indexed_table(client, "plain")
    expected = _answers(client, "plain")
    _change(client, "plain")
    expected_after = _answers(client, "plain")
    patches.install(MovableClock(LOCAL_TIME, frozen=True))
    try:
        _indexed_table(client, "patched_query")
        assert _answers(client, "patched_query") == expected  # keys and items name no table
        _change(client, "patched_query")
        assert _answers(client, "patched_query") == expected_after
    finally:
        patches.uninstall()


def test_a_query_reads_no_item_outside_its_partition(empty_aws):
    from moto.dynamodb.models.table import Table

    client = boto3.client("dynamodb")
    _indexed_table(client, "counted")
    full_reads = []
    original = Table.all_items
    Table.all_items = lambda table: full_reads.append(table.name) or original(table)
    try:
        client.query(TableName="counted", IndexName="ByG", KeyConditionExpression="G = :g",
                     ExpressionAttributeValues={":g": {"S": "G2"}})
        assert full_reads  # moto's own Query reads the whole table
        patches.install(MovableClock(LOCAL_TIME, frozen=True))
        try:
            full_reads.clear()
            for query in QUERIES:
                _pages(client, TableName="counted", **query)
            assert full_reads == []
        finally:
            patches.uninstall()
    finally:
        Table.all_items = original


def test_an_index_map_follows_each_write_instead_of_reading_the_table_again(empty_aws, monkeypatch):
    client = boto3.client("dynamodb")
    _indexed_table(client, "followed")
    patches.install(MovableClock(LOCAL_TIME, frozen=True))
    try:
        reads = []
        all_items_of = patches._all_items_of
        monkeypatch.setattr(patches, "_all_items_of", lambda table: reads.append(table.name) or all_items_of(table))
        before = _answers(client, "followed")
        for n in range(5):  # a write, then a Query of the index, again and again (a lookup before each create)
            client.put_item(TableName="followed", Item={"PK": {"S": "P9"}, "SK": {"S": f"x{n}"}, "G": {"S": "G2"},
                                                        "GS": {"S": f"x{n}"}})
            found = client.query(TableName="followed", IndexName="ByG", KeyConditionExpression="G = :g",
                                 ExpressionAttributeValues={":g": {"S": "G2"}})["Items"]
            assert {"S": f"x{n}"} in [item["GS"] for item in found]
        assert reads == ["followed"]  # mapped once, at the first Query of the index
        _change(client, "followed")
        after = _answers(client, "followed")
    finally:
        patches.uninstall()
    assert after != before and reads == ["followed"]


INDEX_ITEMS_MEASURED = 1000
# Memory an index map holds for each item of the index (the items are the table's): about 220
# bytes, on items three in four alone in their index partition (as in an index by contact), each
# written again by an update; about 670 when each entry kept the update's own copy of the item's
# key and a partition of one was a dict of its own.
INDEX_BYTES_PER_ITEM = 280


def test_an_index_map_holds_little_for_each_item(empty_aws):
    from moto.dynamodb.models import dynamodb_backends

    client, backend = boto3.client("dynamodb"), dynamodb_backends[ACCOUNT_ID][DEFAULT_REGION]
    create_indexed_table(client, "mapped")
    patches.install(MovableClock(LOCAL_TIME, frozen=True))
    try:
        for n in range(INDEX_ITEMS_MEASURED):  # as their requests would (moto's side of PutItem, UpdateItem)
            backend.put_item("mapped", {"PK": {"S": f"ACCOUNT#{n % 10}"}, "SK": {"S": f"ITEM#{n:06}"},
                                        "G": {"S": f"CONTACT#{n:06}" if n % 4 else "MANY"}, "GS": {"S": f"{n:06}"}})
        tracemalloc.start()
        try:
            client.query(TableName="mapped", IndexName="ByG", KeyConditionExpression="G = :g",
                         ExpressionAttributeValues={":g": {"S": "MANY"}})  # maps the index
            for n in range(INDEX_ITEMS_MEASURED):
                backend.update_item("mapped", {"PK": {"S": f"ACCOUNT#{n % 10}"}, "SK": {"S": f"ITEM#{n:06}"}},
                                    "SET x = :x", {}, {":x": {"N": "1"}})
            gc.collect()
            held = tracemalloc.get_traced_memory()[0]
            patches._index_maps.clear()  # what only the map held goes with it
            gc.collect()
            per_item = (held - tracemalloc.get_traced_memory()[0]) / INDEX_ITEMS_MEASURED
        finally:
            tracemalloc.stop()
    finally:
        patches.uninstall()
    assert 50 < per_item <= INDEX_BYTES_PER_ITEM


def test_reading_or_deleting_a_missing_item_leaves_no_empty_partition(db):
    db.get_item(TableName=TABLE, Key={"PK": {"S": "nobody"}, "SK": {"S": "x"}})
    db.delete_item(TableName=TABLE, Key={"PK": {"S": "ghost"}, "SK": {"S": "x"}})
    db.put_item(TableName=TABLE, Item={"PK": {"S": "alone"}, "SK": {"S": "x"}})
    db.delete_item(TableName=TABLE, Key={"PK": {"S": "alone"}, "SK": {"S": "x"}})
    assert [hash_key.value for hash_key in moto_table().items] == ["A"]


# -- what moto keeps that AWS does not, bounded -----------------------------------------------------
def test_moto_keeps_only_the_last_mail_and_texts_sent(aws, monkeypatch):
    from moto.ses.models import ses_backends
    from moto.sns.models import sns_backends

    monkeypatch.setattr(patches, "SENT_KEPT", 3)
    ses, sns = boto3.client("ses"), boto3.client("sns")
    ses.verify_email_identity(EmailAddress="from@example.com")
    for n in range(5):
        ses.send_email(Source="from@example.com", Destination={"ToAddresses": ["to@example.com"]},
                       Message={"Subject": {"Data": f"mail {n}"}, "Body": {"Text": {"Data": "x"}}})
        sns.publish(PhoneNumber="+15550000000", Message=f"text {n}")
    assert [m.subject for m in ses_backends[ACCOUNT_ID][DEFAULT_REGION].sent_messages] == ["mail 2", "mail 3", "mail 4"]
    assert [text for _, text in sns_backends[ACCOUNT_ID][DEFAULT_REGION].sms_messages.values()] == [
        "text 2", "text 3", "text 4"]


def test_a_queue_keeps_only_the_last_receipts_of_deleted_messages(aws, monkeypatch):
    from moto.sqs.models import sqs_backends

    monkeypatch.setattr(patches, "DELETED_RECEIPTS_KEPT", 2)
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName="bounded")["QueueUrl"]
    handles = []
    for n in range(4):
        sqs.send_message(QueueUrl=url, MessageBody=str(n))
        [message] = sqs.receive_message(QueueUrl=url)["Messages"]
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        handles.append(message["ReceiptHandle"])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=handles[-1])  # deleted twice: still fine, as in SQS
    kept = sqs_backends[ACCOUNT_ID][DEFAULT_REGION].queues["bounded"].deleted_messages
    assert len(kept) <= 2 and handles[-1] in kept and not set(handles[:2]) & set(kept)


def _big_partition(client, name):
    client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
                        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                                              {"AttributeName": "SK", "AttributeType": "S"}])
    for n in range(150):  # an account's partition: its automations among many tickets
        kind = "AUTOMATION" if n % 10 == 0 else "TICKET"
        client.put_item(TableName=name, Item={"PK": {"S": "ACCOUNT#1"}, "SK": {"S": f"{kind}#{n:04}"}, "n": {"N": str(n)}})


BIG_QUERIES = [
    {"KeyConditionExpression": "PK = :p AND begins_with(SK, :s)", "ExpressionAttributeValues": {
        ":p": {"S": "ACCOUNT#1"}, ":s": {"S": "AUTOMATION#"}}},
    {"KeyConditionExpression": "PK = :p AND begins_with(SK, :s)", "ScanIndexForward": False, "ExpressionAttributeValues": {
        ":p": {"S": "ACCOUNT#1"}, ":s": {"S": "TICKET#00"}}},
    {"KeyConditionExpression": "PK = :p AND SK BETWEEN :a AND :b", "FilterExpression": "n > :n",
     "ExpressionAttributeValues": {":p": {"S": "ACCOUNT#1"}, ":a": {"S": "TICKET#0011"}, ":b": {"S": "TICKET#0099"},
                                   ":n": {"N": "40"}}},
    {"KeyConditionExpression": "PK = :p AND SK > :s", "ExpressionAttributeValues": {
        ":p": {"S": "ACCOUNT#1"}, ":s": {"S": "TICKET#0140"}}},
    {"KeyConditionExpression": "PK = :p AND SK <= :s", "ScanIndexForward": False, "ExpressionAttributeValues": {
        ":p": {"S": "ACCOUNT#1"}, ":s": {"S": "AUTOMATION#0050"}}},
    {"KeyConditionExpression": "PK = :p AND SK = :s", "ExpressionAttributeValues": {
        ":p": {"S": "ACCOUNT#1"}, ":s": {"S": "TICKET#0007"}}},
    {"KeyConditionExpression": "PK = :p", "ScanIndexForward": False, "ExpressionAttributeValues": {
        ":p": {"S": "ACCOUNT#1"}}},
]


def _big_answers(client, name):
    return [_pages(client, TableName=name, **query) for query in BIG_QUERIES]


def _big_change(client, name):
    client.put_item(TableName=name, Item={"PK": {"S": "ACCOUNT#1"}, "SK": {"S": "AUTOMATION#0001"}})
    client.delete_item(TableName=name, Key={"PK": {"S": "ACCOUNT#1"}, "SK": {"S": "AUTOMATION#0020"}})
    client.delete_item(TableName=name, Key={"PK": {"S": "ACCOUNT#1"}, "SK": {"S": "TICKET#0141"}})
    client.update_item(TableName=name, Key={"PK": {"S": "ACCOUNT#1"}, "SK": {"S": "TICKET#0055"}},
                       UpdateExpression="SET n = :n", ExpressionAttributeValues={":n": {"N": "1"}})


def test_a_query_of_a_large_partition_reads_its_sort_key_range_and_answers_as_moto_does(empty_aws, monkeypatch):
    from moto.dynamodb.models.table import Item

    def automations(name):  # fewer than the limit: moto reads on to the end of the partition
        sized.clear()
        client.query(TableName=name, Limit=100, KeyConditionExpression="PK = :p AND begins_with(SK, :s)",
                     ExpressionAttributeValues={":p": {"S": "ACCOUNT#1"}, ":s": {"S": "AUTOMATION#"}})
        return len(sized)

    client = boto3.client("dynamodb")
    _big_partition(client, "plain_big")
    sized = []
    size = Item.size
    monkeypatch.setattr(Item, "size", lambda item: sized.append(1) or size(item))
    expected = _big_answers(client, "plain_big")
    moto_read = automations("plain_big")
    _big_change(client, "plain_big")
    expected_after = _big_answers(client, "plain_big")
    patches.install(MovableClock(LOCAL_TIME, frozen=True))
    try:
        _big_partition(client, "sorted_big")
        assert _big_answers(client, "sorted_big") == expected
        assert moto_read >= 150 and automations("sorted_big") < 50
        _big_change(client, "sorted_big")
        assert _big_answers(client, "sorted_big") == expected_after
    finally:
        patches.uninstall()


def test_moto_does_not_keep_every_model_object_it_ever_made(db):
    from moto.dynamodb.models.dynamo_type import Item

    for n in range(20):  # each write, read and query makes copies of items
        db.update_item(TableName=TABLE, Key=key(f"{n:03}"), UpdateExpression="SET x = :x",
                       ExpressionAttributeValues={":x": {"N": str(n)}})
        db.query(TableName=TABLE, KeyConditionExpression="PK = :a", ExpressionAttributeValues={":a": {"S": "A"}})
    assert Item.instances_tracked == []


def test_a_condition_on_a_binary_value_decides_its_write(db):
    """Binary values (bytes) have no JSON: a condition naming one is parsed as moto parses it."""
    db.put_item(TableName=TABLE, Item={**key("bin"), "b": {"B": b"\x00\x01"}})
    db.put_item(TableName=TABLE, Item={**key("bin"), "b": {"B": b"\x02"}}, ConditionExpression="b = :b",
                ExpressionAttributeValues={":b": {"B": b"\x00\x01"}})
    with pytest.raises(ClientError) as refused:
        db.put_item(TableName=TABLE, Item={**key("bin"), "b": {"B": b"\x03"}}, ConditionExpression="b = :b",
                    ExpressionAttributeValues={":b": {"B": b"\x00\x01"}})
    assert refused.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert db.get_item(TableName=TABLE, Key=key("bin"))["Item"]["b"] == {"B": b"\x02"}
