"""The local runtime's saved state: a base and a journal of what changed. Everything round-trips
(items, messages, the clock); a record holds only what changed, so it holds AWS calls for the
changed items whatever the size of the tables; every record is a consistent cut, also under
concurrent writes; a torn last record is dropped; folding the journal into the base changes
nothing; a file that cannot be read is refused and kept; only successful calls that may change
state count as changes."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import boto3
import pytest

from automations.clock import MovableClock
from automations_local import compaction, patches, transport
from automations_local.persistence import StateError, StateStore, changes_state, service_of
from automations_local.runtime import OneCallAtATime

ENDPOINT = "http://moto.in-process"


@pytest.fixture
def moto(empty_aws):
    """moto's app behind the runtime's one-call-at-a-time gate, as the runtime serves it."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    patches.install(MovableClock())
    app = OneCallAtATime(DomainDispatcherApplication(create_backend_app))
    undo = transport.send_in_process(ENDPOINT, app)
    try:
        yield app
    finally:
        undo()
        patches.uninstall()


def client(service: str):
    return boto3.session.Session().client(service, endpoint_url=ENDPOINT, region_name="us-east-1")


def make_table(db, name: str = "kept") -> None:
    db.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                    KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
                    AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                                          {"AttributeName": "SK", "AttributeType": "S"}])


def forget_everything() -> None:
    from moto.backends import get_backend

    for service in ("dynamodb", "sqs"):
        get_backend(service).reset()


def test_a_restart_restores_items_messages_and_the_clock(moto, tmp_path):
    ahead = MovableClock()
    store = StateStore(tmp_path, moto, ahead)
    assert not store.restore()
    db, sqs = client("dynamodb"), client("sqs")
    make_table(db)
    db.put_item(TableName="kept", Item={"PK": {"S": "a"}, "SK": {"S": "1"}, "n": {"N": "1"}})
    queue = sqs.create_queue(QueueName="kept")["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="waiting")
    ahead.advance(86400)
    store.clock_moved()
    store.save()
    db.put_item(TableName="kept", Item={"PK": {"S": "a"}, "SK": {"S": "2"}})
    db.update_item(TableName="kept", Key={"PK": {"S": "a"}, "SK": {"S": "1"}}, UpdateExpression="SET n = :n",
                   ExpressionAttributeValues={":n": {"N": "2"}})
    store.stop()

    forget_everything()
    clock = MovableClock()
    assert StateStore(tmp_path, moto, clock).restore()
    assert db.get_item(TableName="kept", Key={"PK": {"S": "a"}, "SK": {"S": "1"}})["Item"]["n"] == {"N": "2"}
    assert db.query(TableName="kept", KeyConditionExpression="PK = :a",
                    ExpressionAttributeValues={":a": {"S": "a"}})["Count"] == 2
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=queue)["Messages"]] == ["waiting"]
    assert abs(clock.now() - datetime.now(timezone.utc) - timedelta(days=1)) < timedelta(seconds=5)


def test_a_record_holds_only_what_changed_whatever_the_size_of_the_table(moto, tmp_path, monkeypatch):
    store = StateStore(tmp_path, moto, MovableClock())
    store.restore()
    db = client("dynamodb")
    make_table(db)
    for start in range(0, 2000, 25):
        db.batch_write_item(RequestItems={"kept": [{"PutRequest": {"Item": {"PK": {"S": f"p{n % 7}"},
                                                                            "SK": {"S": f"{n:05}"}}}}
                                                   for n in range(start, start + 25)]})
    store.save()  # the table's creation: everything
    records = []
    append = compaction.Journal.append
    monkeypatch.setattr(compaction.Journal, "append", lambda journal, record: records.append(record)
                        or append(journal, record))
    db.update_item(TableName="kept", Key={"PK": {"S": "p3"}, "SK": {"S": "00010"}}, UpdateExpression="SET x = :x",
                   ExpressionAttributeValues={":x": {"S": "changed"}})
    db.delete_item(TableName="kept", Key={"PK": {"S": "p1"}, "SK": {"S": "00001"}})
    store.save()
    [record] = records
    assert not record.everything and record.services == {}
    assert {key[3:]: data is None for key, data in record.items.items()} == {
        (("S", "p3"), ("S", "00010")): False, (("S", "p1"), ("S", "00001")): True}
    store.stop()


def test_nothing_changed_nothing_written_and_a_refused_call_is_no_change(moto, tmp_path):
    store = StateStore(tmp_path, moto, MovableClock())
    store.restore()
    db = client("dynamodb")
    make_table(db)
    store.save()
    size = store._journal.size
    with pytest.raises(db.exceptions.ResourceInUseException):
        make_table(db)  # as every start does with tables that exist
    store.stop()
    assert store._journal.size == size


class Transfers:
    """Two accounts whose balances always add up to 1,000, moved between them by transactions."""

    def __init__(self, db) -> None:
        self.db = db
        make_table(db, "bank")
        for name in ("a", "b"):
            db.put_item(TableName="bank", Item={"PK": {"S": name}, "SK": {"S": "balance"}, "n": {"N": "500"}})

    def move(self, amount: int) -> None:
        self.db.transact_write_items(TransactItems=[
            {"Update": {"TableName": "bank", "Key": {"PK": {"S": "a"}, "SK": {"S": "balance"}},
                        "UpdateExpression": "ADD n :minus", "ExpressionAttributeValues": {":minus": {"N": str(-amount)}}}},
            {"Update": {"TableName": "bank", "Key": {"PK": {"S": "b"}, "SK": {"S": "balance"}},
                        "UpdateExpression": "ADD n :plus", "ExpressionAttributeValues": {":plus": {"N": str(amount)}}}},
            {"Put": {"TableName": "bank", "Item": {"PK": {"S": "log"}, "SK": {"S": f"{amount:06}"}}}}])


def balances(state: compaction.State) -> dict[str, int]:
    import pickle

    found = {key[3][1]: pickle.loads(data) for key, data in state.items.items() if key[2] == "bank"}
    return {name: int(item.attrs["n"].value) for name, item in found.items() if name in ("a", "b")}


def test_every_record_is_a_consistent_cut_under_concurrent_writes(moto, tmp_path):
    store = StateStore(tmp_path, moto, MovableClock())
    store.restore()
    bank = Transfers(client("dynamodb"))
    store.save()
    done = threading.Event()

    def writer(first: int) -> None:
        amount = first
        while not done.is_set():
            bank.move(amount)
            amount += 2

    writers = [threading.Thread(target=writer, args=(first,)) for first in (1, 2)]
    for thread in writers:
        thread.start()
    try:
        for _ in range(30):
            store.save()
    finally:
        done.set()
        for thread in writers:
            thread.join()
    store.stop()

    state, cuts = compaction.State(), 0
    for path in sorted(tmp_path.glob("journal.*")):
        for record in compaction._records(path, last=True):
            state.apply(record)
            cuts += 1
            moved = len([key for key in state.items if key[2] == "bank" and key[3] == ("S", "log")])
            assert sum(balances(state).values()) == 1000, f"cut {cuts} is torn"
            assert balances(state)["b"] - 500 == sum(
                int(key[4][1]) for key in state.items if key[2] == "bank" and key[3] == ("S", "log")), moved
    assert cuts > 10


def test_a_torn_last_record_is_dropped_and_cut_off(moto, tmp_path):
    store = StateStore(tmp_path, moto, MovableClock())
    store.restore()
    db = client("dynamodb")
    make_table(db)
    db.put_item(TableName="kept", Item={"PK": {"S": "a"}, "SK": {"S": "whole"}})
    store.save()
    db.put_item(TableName="kept", Item={"PK": {"S": "a"}, "SK": {"S": "torn"}})
    store.save()
    journal = store._journal.path
    store.stop()
    whole = journal.read_bytes()
    journal.write_bytes(whole[:-3])  # the crash came while the last record was being written

    forget_everything()
    assert StateStore(tmp_path, moto, MovableClock()).restore()
    assert [item["SK"]["S"] for item in db.scan(TableName="kept")["Items"]] == ["whole"]
    assert len(journal.read_bytes()) < len(whole) - 3  # cut where the whole records end


def test_folding_the_journal_into_the_base_changes_nothing(moto, tmp_path):
    store = StateStore(tmp_path, moto, MovableClock())
    store.restore()
    db = client("dynamodb")
    make_table(db)
    for n in range(5):
        db.put_item(TableName="kept", Item={"PK": {"S": "a"}, "SK": {"S": str(n)}})
        store.save()
    db.delete_item(TableName="kept", Key={"PK": {"S": "a"}, "SK": {"S": "3"}})
    store.save()
    finished = store._journal.generation
    store.stop()
    before = compaction.read_state(tmp_path)

    compaction.main([str(tmp_path), str(finished)])
    assert [p.name for p in tmp_path.glob("journal.*")] == [] and (tmp_path / "state.base").exists()
    assert compaction.read_state(tmp_path) == before
    compaction.fold(tmp_path, finished)  # a second fold of the same journals (a crash, a late process): no-op
    assert compaction.read_state(tmp_path) == before

    forget_everything()
    store = StateStore(tmp_path, moto, MovableClock())
    assert store.restore() and store._journal.generation == finished + 1
    assert sorted(item["SK"]["S"] for item in db.scan(TableName="kept")["Items"]) == ["0", "1", "2", "4"]
    store.stop()


def test_a_journal_that_outgrows_the_base_is_folded_by_another_process(moto, tmp_path, monkeypatch):
    monkeypatch.setattr("automations_local.persistence.COMPACT_AFTER_BYTES", 1)
    store = StateStore(tmp_path, moto, MovableClock())
    store.restore()
    db = client("dynamodb")
    make_table(db)
    store.save()
    first = store._journal.generation - 1
    assert store._compactor is not None and store._compactor.wait(120) == 0
    assert compaction.through_of(tmp_path / "state.base") == first
    store.stop()


@pytest.mark.parametrize("name, content", [
    ("state.base", b""), ("state.base", b"something else entirely"),
    ("state.base", compaction.BASE_MAGIC + b"\0" * 8 + b"\x80\x05 truncated"),
    ("state.pickle", b"automations-local state 1\n\x80\x05 truncated"),
])
def test_a_file_it_cannot_read_is_refused_and_kept(moto, tmp_path, name, content):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(StateError, match="is refused.*It is kept"):
        StateStore(tmp_path, moto, MovableClock()).restore()
    assert (tmp_path / name).read_bytes() == content


def test_a_damaged_journal_before_the_last_is_refused(moto, tmp_path):
    store = StateStore(tmp_path, moto, MovableClock())
    store.restore()
    make_table(client("dynamodb"))
    store.stop()
    first = store._journal.path
    StateStore(tmp_path, moto, MovableClock()).restore()  # a second journal after it
    first.write_bytes(first.read_bytes()[:-1])
    with pytest.raises(StateError, match=f"{first.name} is damaged"):
        StateStore(tmp_path, moto, MovableClock()).restore()


@pytest.mark.parametrize("environ, body, changes", [
    ({"HTTP_X_AMZ_TARGET": "DynamoDB_20120810.PutItem"}, b"", True),
    ({"HTTP_X_AMZ_TARGET": "DynamoDB_20120810.Query"}, b"", False),
    ({"HTTP_X_AMZ_TARGET": "DynamoDB_20120810.TransactGetItems"}, b"", False),
    ({"HTTP_X_AMZ_TARGET": "AmazonSQS.ReceiveMessage"}, b"", False),
    ({"HTTP_X_AMZ_TARGET": "AmazonSQS.DeleteMessageBatch"}, b"", True),
    ({"CONTENT_TYPE": "application/x-www-form-urlencoded"}, b"Action=SendEmail&Source=x", True),
    ({"CONTENT_TYPE": "application/x-www-form-urlencoded; charset=utf-8"}, b"Action=GetSendQuota", False),
    ({"REQUEST_METHOD": "GET"}, b"", False),
    ({"REQUEST_METHOD": "DELETE"}, b"", True),
])
def test_which_calls_change_state(environ, body, changes):
    assert changes_state(environ, body) is changes


@pytest.mark.parametrize("authorization, service", [
    ("AWS4-HMAC-SHA256 Credential=testing/20300101/us-east-1/sqs/aws4_request, SignedHeaders=host", "sqs"),
    ("AWS4-HMAC-SHA256 Credential=testing/20300101/us-east-1/ses/aws4_request, SignedHeaders=host", "ses"),
    ("AWS4-HMAC-SHA256 Credential=testing/20300101/us-east-1/lambda/aws4_request", None),
    ("", None),
])
def test_the_service_a_call_changes_is_read_from_its_signature(authorization, service):
    assert service_of({"HTTP_AUTHORIZATION": authorization}) == service
