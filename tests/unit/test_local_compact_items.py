"""Items held compactly by moto (automations_local.compact_items): every DynamoDB call the product
makes answers as with moto's own items, an item saves to the same bytes and comes back equal, and
an item's memory stays within a bound of its size, built, saved or restored."""
from __future__ import annotations

import contextlib
import gc
import json
import pickle
import sys
import tracemalloc
from datetime import datetime, timezone

import boto3
import pytest
from botocore.exceptions import ClientError

from automations.clock import MovableClock
from automations_local import compact_items, patches
from support import create_indexed_table

ITEMS_MEASURED = 2000
# What an item takes in memory against its size as DynamoDB counts it (its attribute names and
# values: how it is held or saved changes nothing), on items shaped as the product's (keys of
# two indexes, a status, a version, a JSON document), built and saved, and restored into its
# table: about 3.0 and 2.9 with the compact items; 3.4 and 3.4 when every short value was
# interned instead of values written alike sharing one object (and partitions their key); 3.9
# without holding its key once, 4.3 without the names interned, 4.8 pickled through __dict__,
# 6.7 with moto's own.
MEMORY_PER_ITEM_BYTE = 3.2


@contextlib.contextmanager
def _installed():
    originals = {}

    def replace(owner, name, value):
        originals.setdefault((owner, name), vars(owner).get(name))
        setattr(owner, name, value)

    compact_items.install(replace)
    try:
        yield
    finally:
        for (owner, name), original in originals.items():
            if original is None:
                delattr(owner, name)
            else:
                setattr(owner, name, original)


@pytest.fixture
def patched():
    """Every patch of the runtime, as it runs (moto's instance tracking off among them)."""
    patches.install(MovableClock(datetime(2031, 3, 4, tzinfo=timezone.utc), frozen=True))
    try:
        yield
    finally:
        patches.uninstall()


def _key(sk):
    return {"PK": {"S": "P"}, "SK": {"S": sk}}


def _answer(call, **kwargs):
    """A call's answer, or its error's code, message and cancellation reasons."""
    try:
        answer = call(**kwargs)
    except ClientError as error:
        return {"error": error.response["Error"], "reasons": error.response.get("CancellationReasons")}
    answer.pop("ResponseMetadata", None)
    return answer


def _scenario(client, name):
    """What the product's stores do: conditional puts, updates (set, add, remove, nested, with
    conditions and returned values), reads, queries of the table and an index (filters, pages),
    transactions that pass and fail, batches, conditional deletes, a scan."""
    answers = []
    for n in range(12):
        answers.append(_answer(client.put_item, TableName=name, ConditionExpression="attribute_not_exists(PK)",
                               Item={**_key(f"{n:03}"), "G": {"S": f"G{n % 3}"}, "GS": {"S": f"{n:03}"},
                                     "version": {"N": "1"}, "done": {"BOOL": n % 2 == 0}, "gone": {"NULL": True},
                                     "tags": {"SS": ["a", f"t{n}"]}, "counts": {"NS": ["1", str(n + 2)]},
                                     "blob": {"B": bytes([n])},
                                     "data": {"S": json.dumps({"id": n, "subject": f"Ticket {n}"})},
                                     "doc": {"M": {"steps": {"L": [{"M": {"at": {"S": "x"}}}, {"N": "2.5"}]}}}}))
    answers.append(_answer(client.put_item, TableName=name, Item=_key("000"),
                           ConditionExpression="attribute_not_exists(PK)"))
    for update in (
            {"UpdateExpression": "SET #s = :s, version = version + :one, doc.steps[0].at = :at",
             "ConditionExpression": "version = :v", "ReturnValues": "ALL_NEW",
             "ExpressionAttributeNames": {"#s": "status"},
             "ExpressionAttributeValues": {":s": {"S": "solved"}, ":one": {"N": "1"}, ":v": {"N": "1"},
                                           ":at": {"S": "y"}}},
            {"UpdateExpression": "ADD tags :t, hits :one REMOVE gone", "ReturnValues": "ALL_OLD",
             "ExpressionAttributeValues": {":t": {"SS": ["b"]}, ":one": {"N": "1"}}},
            {"UpdateExpression": "SET version = :two", "ConditionExpression": "version = :v",
             "ExpressionAttributeValues": {":two": {"N": "2"}, ":v": {"N": "7"}}},
            {"UpdateExpression": "SET G = :g", "ReturnValues": "UPDATED_NEW",
             "ExpressionAttributeValues": {":g": {"S": "G2"}}}):
        answers.append(_answer(client.update_item, TableName=name, Key=_key("001"), **update))
    answers.append(_answer(client.update_item, TableName=name, Key=_key("new"), ReturnValues="ALL_NEW",
                           UpdateExpression="SET counted = if_not_exists(counted, :zero) + :one",
                           ExpressionAttributeValues={":zero": {"N": "0"}, ":one": {"N": "1"}}))
    answers.append(_answer(client.get_item, TableName=name, Key=_key("001"), ConsistentRead=True))
    answers.append(_answer(client.get_item, TableName=name, Key=_key("missing")))
    for query in ({"KeyConditionExpression": "PK = :p AND SK BETWEEN :a AND :b", "FilterExpression": "done = :t",
                   "ExpressionAttributeValues": {":p": {"S": "P"}, ":a": {"S": "002"}, ":b": {"S": "009"},
                                                 ":t": {"BOOL": True}}},
                  {"KeyConditionExpression": "PK = :p", "Limit": 5, "ScanIndexForward": False,
                   "ProjectionExpression": "SK, version, doc.steps[1]",
                   "ExpressionAttributeValues": {":p": {"S": "P"}}},
                  {"IndexName": "ByG", "KeyConditionExpression": "G = :g AND begins_with(GS, :z)",
                   "FilterExpression": "contains(tags, :a) AND size(counts) = :two",
                   "ExpressionAttributeValues": {":g": {"S": "G2"}, ":z": {"S": "0"}, ":a": {"S": "a"},
                                                 ":two": {"N": "2"}}}):
        answers.append(_answer(client.query, TableName=name, **query))
    transaction = [{"Put": {"TableName": name, "Item": {**_key("t1"), "G": {"S": "G1"}, "GS": {"S": "t1"}},
                            "ConditionExpression": "attribute_not_exists(PK)"}},
                   {"Update": {"TableName": name, "Key": _key("002"), "UpdateExpression": "SET version = :v",
                               "ExpressionAttributeValues": {":v": {"N": "5"}}}},
                   {"Delete": {"TableName": name, "Key": _key("003")}},
                   {"ConditionCheck": {"TableName": name, "Key": _key("004"), "ConditionExpression": "version = :v",
                                       "ExpressionAttributeValues": {":v": {"N": "1"}}}}]
    answers.append(_answer(client.transact_write_items, TransactItems=transaction))  # the put's item exists now
    answers.append(_answer(client.transact_write_items, TransactItems=[
        {**transaction[0], "Put": {**transaction[0]["Put"], "Item": {**_key("t2"), "G": {"S": "G1"},
                                                                   "GS": {"S": "t2"}}}}, *transaction[1:]]))
    answers.append(_answer(client.transact_get_items, TransactItems=[
        {"Get": {"TableName": name, "Key": _key(sk)}} for sk in ("t2", "002", "003")]))
    answers.append(_answer(client.batch_write_item, RequestItems={name: [
        {"PutRequest": {"Item": {**_key(f"b{n}"), "version": {"N": str(n)}}}} for n in range(3)] + [
        {"DeleteRequest": {"Key": _key("005")}}]}))
    batch = _answer(client.batch_get_item, RequestItems={name: {"Keys": [_key(sk) for sk in ("b0", "b2", "005")]}})
    batch["Responses"][name].sort(key=lambda item: item["SK"]["S"])
    answers.append(batch)
    answers.append(_answer(client.delete_item, TableName=name, Key=_key("006"), ReturnValues="ALL_OLD",
                           ConditionExpression="attribute_exists(PK)"))
    answers.append(_answer(client.delete_item, TableName=name, Key=_key("006"),
                           ConditionExpression="attribute_exists(PK)"))
    answers.append(sorted(client.scan(TableName=name)["Items"], key=lambda item: item["SK"]["S"]))
    return json.loads(json.dumps(answers, default=repr).replace(name, "TABLE"))


def _moto_table(name):
    from moto.backends import get_backend

    from automations_local.template import ACCOUNT_ID, DEFAULT_REGION

    return get_backend("dynamodb")[ACCOUNT_ID][DEFAULT_REGION].tables[name]


def _items(table):
    return sorted((item for partition in table.items.values() for item in partition.values()),
                  key=lambda item: item.range_key.value)


def test_every_call_the_product_makes_answers_as_with_motos_own_items(empty_aws):
    client = boto3.client("dynamodb")
    create_indexed_table(client, "moto")
    expected = _scenario(client, "moto")
    moto_items = _items(_moto_table("moto"))
    saved_by_moto = [pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL) for item in moto_items]
    with _installed():
        create_indexed_table(client, "compact")
        assert _scenario(client, "compact") == expected
        items = _items(_moto_table("compact"))
        saved = [pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL) for item in items]
        restored = [pickle.loads(data) for data in saved]
        restored_from_moto = [pickle.loads(data) for data in saved_by_moto]  # files of earlier versions
        for loaded in (items, restored, restored_from_moto):
            assert _contents(loaded) == _contents(moto_items)
            assert loaded == moto_items
    assert _contents(pickle.loads(data) for data in saved) == _contents(moto_items)  # as earlier versions load


def _number_keyed_scenario(client, name):
    """Items of one partition, some replacing others, with keys that are the same numbers written
    otherwise ("01", "1.0"): each answers with its key as it was written."""
    client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
                        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "N"},
                                              {"AttributeName": "SK", "AttributeType": "N"}])
    for pk, sk in (("1", "1"), ("01", "2"), ("1", "3"), ("1.0", "2.0"), ("1", "1"), ("2", "1")):
        client.put_item(TableName=name, Item={"PK": {"N": pk}, "SK": {"N": sk}, "v": {"S": f"{pk}/{sk}"}})
    client.update_item(TableName=name, Key={"PK": {"N": "001"}, "SK": {"N": "4"}}, UpdateExpression="SET v = :v",
                       ExpressionAttributeValues={":v": {"S": "updated"}})  # a new item, written by an update
    answers = [client.get_item(TableName=name, Key={"PK": {"N": pk}, "SK": {"N": sk}}).get("Item")
               for pk, sk in (("1", "2"), ("1", "1"), ("001", "4"), ("2", "1"))]
    answers.append(client.query(TableName=name, KeyConditionExpression="PK = :p",
                                ExpressionAttributeValues={":p": {"N": "1"}})["Items"])
    answers.append(client.scan(TableName=name)["Items"])
    return answers


def test_the_items_of_a_partition_share_its_key_and_answer_as_with_motos_own(empty_aws):
    client = boto3.client("dynamodb")
    expected = _number_keyed_scenario(client, "moto_numbers")
    with _installed():
        assert _number_keyed_scenario(client, "compact_numbers") == expected
    table = _moto_table("compact_numbers")
    partition = table.items[next(key for key in table.items if key.value == "1")]
    held = {id(key) for key in table.items} | {id(key) for key in partition}
    for item in _items(table):
        assert item.attrs["PK"] is item.hash_key and item.attrs["SK"] is item.range_key
        if (item.hash_key.value, item.range_key.value) in (("1", "3"), ("1", "1")):  # "1.0" and "01" stay theirs
            assert id(item.hash_key) in held and id(item.range_key) in held  # the table's own: one of each


def test_values_written_alike_are_one_object_and_unique_ones_are_not_interned(empty_aws):
    client = boto3.client("dynamodb")
    with _installed():
        create_indexed_table(client, "shared")
        for n in range(300):
            client.put_item(TableName="shared", Item={
                **_key(f"unique-{n}"), "status": {"S": ("open", "solved")[n % 2]}, "version": {"N": str(1 + n % 3)},
                "done": {"BOOL": n % 2 == 0}, "G": {"S": f"ACCOUNT#acc_1#SHARD#{n % 64}"}, "at": {"S": f"{n:020}"}})
        client.update_item(TableName="shared", Key=_key("unique-0"), UpdateExpression="SET version = version + :one",
                           ExpressionAttributeValues={":one": {"N": "1"}})
    items = _items(_moto_table("shared"))
    for name, kinds in (("status", 2), ("version", 3), ("done", 2), ("G", 64)):
        assert len({id(item.attrs[name]) for item in items}) == kinds, name
    ones = sorted(item.range_key.value for item in items if item.attrs["version"].value == "1")
    assert ones == sorted(f"unique-{n}" for n in range(3, 300, 3))  # the one updated changed alone
    for item in items:  # Python's table of interned strings would grow with them, for nothing
        for value in (item.range_key.value, item.attrs["at"].value):
            assert sys.intern("".join(value)) is not value


def _contents(items):
    return [(item.hash_key, item.range_key, item.to_json()) for item in items]


def _product_items(count):
    """Items shaped as the product's runs: the table's and two indexes' keys, a status, a
    version, an expiry and the JSON document."""
    account = "acc_8a23f1aa0db1d5b2"
    for n in range(count):
        run, at = f"run_{n:024x}", f"2026-12-07T06:24:{n % 60:02}.{n:06}Z"
        yield {"PK": {"S": f"ACCOUNT#{account}#RUNS#{n % 64}"}, "SK": {"S": f"RUN#{run}"},
               "ARUNS_PK": {"S": f"ACCOUNT#{account}#RUNS#AUTOMATION#2#{n % 64}"}, "ARUNS_SK": {"S": f"{at}#{run}"},
               "GSI2PK": {"S": f"ACCOUNT#{account}#RUNS#CONTACT#{n:08}-e864-4aa8-8d5e-c1490758f508"},
               "GSI2SK": {"S": f"{at}#{run}"}, "status": {"S": "scheduled"}, "version": {"N": "1"},
               "expires_at": {"N": str(1796714640 + n)},
               "data": {"S": json.dumps({"id": run, "automation_id": 2, "subject_kind": "contact",
                                         "subject_id": f"{n:08}", "step": 0, "due_at": at})}}


def _traced(make):
    """What ``make()`` returns, and the memory it still holds, but for Python's table of interned
    strings: it grows in steps, whole (one step inside the window would count a table for all)."""
    gc.collect()
    tracemalloc.start()
    try:
        made = make()
        gc.collect()
        held = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, compact_items.__file__)])
        return made, sum(stat.size for stat in held.statistics("filename"))
    finally:
        tracemalloc.stop()


def _memory_per_item_byte(name="sized"):
    """Memory an item takes against its size: built from its request and saved, and restored."""
    client = boto3.client("dynamodb")
    create_indexed_table(client, name)
    table = _moto_table(name)
    requests = [json.dumps(item) for item in _product_items(ITEMS_MEASURED)]

    def built_and_saved():
        items = [table.put_item(json.loads(request)) for request in requests]  # each its own strings, as a request's
        return items, [pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL) for item in items]

    (items, saved), held = _traced(built_and_saved)
    size = sum(item.size() for item in items)
    held -= sum(map(sys.getsizeof, saved))  # the saved bytes are not the items
    items.clear()
    table.items.clear()

    def restored():  # as the saved state is restored
        for data in saved:
            compact_items.place(table, pickle.loads(data))

    _, restored = _traced(restored)
    return held / size, restored / size


def test_an_item_takes_at_most_a_bound_of_its_size_in_memory(empty_aws, patched):
    saved, restored = _memory_per_item_byte()
    assert saved <= MEMORY_PER_ITEM_BYTE
    assert restored <= MEMORY_PER_ITEM_BYTE
