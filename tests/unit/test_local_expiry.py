"""DynamoDB's Time to Live, locally: an item whose TTL attribute is a time before the local clock's
now is deleted (and the deletion announced, so the saved state follows); a later expiry written
over an earlier one wins; what DynamoDB does not take as a time to live is kept."""
from __future__ import annotations

import gc
import threading
import tracemalloc
from datetime import datetime, timedelta, timezone

import boto3
import pytest

from automations.clock import MovableClock
from automations_local import patches
from automations_local.expiry import Expiry

NOW = datetime(2031, 3, 4, 5, 6, 7, tzinfo=timezone.utc)


@pytest.fixture
def db(empty_aws):
    patches.install(MovableClock(NOW, frozen=True))
    client = boto3.client("dynamodb")
    client.create_table(TableName="expiring", BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
                        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                                              {"AttributeName": "SK", "AttributeType": "S"}])
    client.update_time_to_live(TableName="expiring", TimeToLiveSpecification={"Enabled": True,
                                                                              "AttributeName": "expires_at"})
    try:
        yield client
    finally:
        patches.uninstall()


def put(db, name: str, expires: dict | None) -> None:
    db.put_item(TableName="expiring", Item={"PK": {"S": "a"}, "SK": {"S": name}, **({"expires_at": expires} if expires else {})})


def names(db) -> list[str]:
    return sorted(item["SK"]["S"] for item in db.scan(TableName="expiring")["Items"])


def at(moment: datetime) -> dict:
    return {"N": str(int(moment.timestamp()))}


def test_expired_items_are_deleted_and_others_kept(db):
    put(db, "restored", at(NOW - timedelta(days=1)))  # there before the expiry started
    clock = MovableClock(NOW, frozen=True)
    deleted = []
    patches.on_item_write(lambda table, hash_key, range_key: deleted.append(range_key.value))
    expiry = Expiry(threading.Lock(), clock)
    expiry.start(paused=lambda: True)
    try:
        put(db, "expired", at(NOW - timedelta(seconds=1)))
        put(db, "later", at(NOW + timedelta(hours=1)))
        put(db, "no ttl", None)
        put(db, "not a number", {"S": str(int(NOW.timestamp()) - 10)})
        put(db, "too old", at(NOW - timedelta(days=6 * 365)))
        put(db, "moved later", at(NOW - timedelta(seconds=5)))
        db.update_item(TableName="expiring", Key={"PK": {"S": "a"}, "SK": {"S": "moved later"}},
                       UpdateExpression="SET expires_at = :e", ExpressionAttributeValues={":e": at(NOW + timedelta(hours=2))})
        deleted.clear()
        expiry.expire()
        assert names(db) == ["later", "moved later", "no ttl", "not a number", "too old"]
        assert sorted(deleted) == ["expired", "restored"]  # announced: the saved state follows
        clock.advance(3600 + 1)
        expiry.expire()
        assert names(db) == ["moved later", "no ttl", "not a number", "too old"]
        clock.advance(3600)
        expiry.expire()
        assert names(db) == ["no ttl", "not a number", "too old"]
    finally:
        expiry.stop()


def test_items_expiring_at_the_same_time_are_all_deleted(db):
    db.create_table(TableName="expiring_by_id", BillingMode="PAY_PER_REQUEST",
                    KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}])
    db.update_time_to_live(TableName="expiring_by_id", TimeToLiveSpecification={"Enabled": True,
                                                                                "AttributeName": "expires_at"})
    clock = MovableClock(NOW, frozen=True)
    expiry = Expiry(threading.Lock(), clock).start(paused=lambda: True)
    try:
        for n in range(6):  # the same time: the queue compares their keys
            put(db, f"same {n % 3}", at(NOW + timedelta(seconds=1)))
            db.put_item(TableName="expiring_by_id", Item={"id": {"N": str(n % 4)}, "expires_at": at(NOW + timedelta(seconds=1))})
        put(db, "kept", at(NOW + timedelta(seconds=2)))
        clock.advance(1)
        expiry.expire()
        assert names(db) == ["kept"] and db.scan(TableName="expiring_by_id")["Items"] == []
    finally:
        expiry.stop()


EXPIRING_MEASURED = 1000
# Memory the local TTL holds for each item with a time to live: about 180 bytes, each given its
# time to live by an update; about 485 when each entry kept the update's own copy of the item's
# key, a number of its own for its table, an order for ties, and its key in two tuples.
EXPIRY_BYTES_PER_ITEM = 230


def test_the_local_ttl_holds_little_for_each_expiring_item(db):
    from moto.dynamodb.models import dynamodb_backends

    from automations_local.template import ACCOUNT_ID, DEFAULT_REGION

    backend = dynamodb_backends[ACCOUNT_ID][DEFAULT_REGION]
    tracemalloc.start()
    try:
        expiry = Expiry(threading.Lock(), MovableClock(NOW, frozen=True)).start(paused=lambda: True)
        for n in range(EXPIRING_MEASURED):  # as their requests would (moto's side of PutItem, UpdateItem)
            backend.put_item("expiring", {"PK": {"S": "a"}, "SK": {"S": f"ITEM#{n:06}"}})
            backend.update_item("expiring", {"PK": {"S": "a"}, "SK": {"S": f"ITEM#{n:06}"}}, "SET expires_at = :e",
                                {}, {":e": at(NOW + timedelta(days=2))})
        expiry.stop()
        gc.collect()
        held = tracemalloc.get_traced_memory()[0]
        del expiry  # what only it held goes with it
        gc.collect()
        per_item = (held - tracemalloc.get_traced_memory()[0]) / EXPIRING_MEASURED
    finally:
        tracemalloc.stop()
    assert 50 < per_item <= EXPIRY_BYTES_PER_ITEM
