"""The local runtime's saved state: moto's backends and the clock's offset round-trip through a
snapshot file; a file that cannot be read is refused and kept; only calls that may change
state count as changes."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import boto3
import pytest

from automations.clock import MovableClock
from automations_local.persistence import MAGIC, StateError, StateStore, changes_state


def moto_app(changes: int = 0) -> SimpleNamespace:
    return SimpleNamespace(lock=threading.Lock(), changes=changes)


def test_a_snapshot_restores_items_messages_and_the_clock(empty_aws, tmp_path):
    db, sqs = boto3.client("dynamodb"), boto3.client("sqs")
    db.create_table(TableName="kept", BillingMode="PAY_PER_REQUEST",
                    KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}])
    db.put_item(TableName="kept", Item={"PK": {"S": "a"}, "n": {"N": "1"}})
    queue = sqs.create_queue(QueueName="kept")["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="waiting")
    ahead = MovableClock()
    ahead.advance(86400)
    StateStore(tmp_path, moto_app(1), ahead).save()

    db.delete_table(TableName="kept")
    sqs.delete_queue(QueueUrl=queue)
    clock = MovableClock()
    assert StateStore(tmp_path, moto_app(), clock).restore()
    assert db.get_item(TableName="kept", Key={"PK": {"S": "a"}})["Item"]["n"] == {"N": "1"}
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=queue)["Messages"]] == ["waiting"]
    assert abs(clock.now() - datetime.now(timezone.utc) - timedelta(days=1)) < timedelta(seconds=5)
    assert not (tmp_path / "state.pickle.tmp").exists()


def test_no_file_yet_is_a_fresh_start(empty_aws, tmp_path):
    assert not StateStore(tmp_path / "new", moto_app(), MovableClock()).restore()
    assert (tmp_path / "new").is_dir()


@pytest.mark.parametrize("content", [b"", b"something else entirely", MAGIC + b"\x80\x05 truncated"])
def test_a_file_it_cannot_read_is_refused_and_kept(empty_aws, tmp_path, content):
    (tmp_path / "state.pickle").write_bytes(content)
    store = StateStore(tmp_path, moto_app(), MovableClock())
    with pytest.raises(StateError, match="is refused.*It is kept"):
        store.restore()
    assert (tmp_path / "state.pickle").read_bytes() == content


def test_nothing_changed_nothing_saved(empty_aws, tmp_path):
    app = moto_app(5)
    store = StateStore(tmp_path, app, MovableClock())
    store.stop()
    assert not (tmp_path / "state.pickle").exists()
    app.changes += 1
    store.stop()
    assert (tmp_path / "state.pickle").exists()


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
