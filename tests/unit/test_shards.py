"""Listings over sharded keys (adapters/shards.py): every shard read, merged in order, paged with
one cursor that holds each shard's position and is refused when it is not one of this listing's."""
from datetime import datetime, timedelta, timezone

import boto3
import pytest

from automations import config
from automations.adapters.dynamo_runs import DynamoRunStore, automation_runs_key
from automations.adapters.shards import RUN_SHARDS, shard_of
from automations.domain.model import SubjectKind
from automations.domain.run import Run, RunStatus, run_id
from automations.errors import MalformedRequest
from automations.paging import decode_cursor, encode_cursor

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=timezone.utc)


def _run(n: int, automation_id: int = 7) -> Run:
    at = T0 + timedelta(seconds=n)
    return Run(account_id="acc_1", id=run_id("acc_1", automation_id, SubjectKind.CONTACT, f"c{n}", "x"),
               automation_id=automation_id, subject_kind=SubjectKind.CONTACT, subject_id=f"c{n}", occurrence="x",
               status=RunStatus.SUCCEEDED if n % 3 else RunStatus.SCHEDULED, created_at=at, updated_at=at)


@pytest.fixture
def store(aws):
    store = DynamoRunStore(boto3.client("dynamodb"), config.table_name())
    for n in range(40):
        assert store.put_new(_run(n))
    store.put_new(_run(99, automation_id=8))  # another automation's: never listed with 7's
    return store


def _pages(store, **filters):
    seen, cursor, pages = [], None, 0
    while True:
        page, cursor = store.list("acc_1", automation_id=7, limit=7, cursor=cursor, **filters)
        seen += page
        pages += 1
        if cursor is None:
            return seen, pages


def test_an_automations_runs_come_newest_first_from_every_shard_page_by_page(store):
    assert len({shard_of(r.id, RUN_SHARDS) for r in map(_run, range(40))}) > 10  # spread over many shards
    seen, pages = _pages(store)
    assert [r.created_at for r in seen] == [T0 + timedelta(seconds=n) for n in reversed(range(40))]
    assert pages == 6  # 40 in pages of 7
    scheduled, _ = _pages(store, status=RunStatus.SCHEDULED)
    assert [r.subject_id for r in scheduled] == [f"c{n}" for n in reversed(range(40)) if n % 3 == 0]


def test_the_accounts_runs_come_in_id_order_from_every_shard(store):
    seen, cursor = [], None
    while True:
        page, cursor = store.list("acc_1", limit=9, cursor=cursor)
        seen += page
        if cursor is None:
            break
    assert [r.id for r in seen] == sorted(r.id for r in [*map(_run, range(40)), _run(99, 8)])


def test_a_cursor_from_another_listing_or_tampered_with_is_refused(store):
    _, cursor = store.list("acc_1", automation_id=7, limit=3)
    positions = decode_cursor(cursor)
    key = {"ARUNS_PK": {"S": automation_runs_key("acc_1", 7, 0)}, "ARUNS_SK": {"S": "2026"},
           "PK": {"S": "ACCOUNT#acc_1#RUNS#0"}, "SK": {"S": "RUN#r"}}
    store.list("acc_1", automation_id=7, limit=3, cursor=encode_cursor([key, *positions[1:]]))  # its own: fine
    for bad in (encode_cursor(positions[:-1]), encode_cursor(["later", *positions[1:]]),
                encode_cursor([{**key, "extra": {"S": "x"}}, *positions[1:]])):
        with pytest.raises(MalformedRequest):
            store.list("acc_1", automation_id=7, limit=3, cursor=bad)
    with pytest.raises(MalformedRequest):  # a position in automation 7's shard, to list automation 8's
        store.list("acc_1", automation_id=8, limit=3, cursor=encode_cursor([key, *positions[1:]]))
