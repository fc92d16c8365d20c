"""The DueIndex as the re-drive and the time buckets page through it (adapters/dynamo_runs.py):
a run's account and id come from the table's keys, which the keys-only index holds too, so a
run is stored there at its time alone (about 50 bytes less on every unfinished run than the
time, account and run of the releases before, the margin that keeps a claimed run under 1 KB),
runs those releases stored are read alike, and a page's position in a queue message is
readable by the release before while the keys are as it wrote them."""
from datetime import datetime, timedelta, timezone

import boto3

from automations import config
from automations.adapters.dynamo_runs import DynamoRunStore, due_shard_key, legacy_run_key, runs_key
from automations.clock import sortable
from automations.domain.model import SubjectKind
from automations.domain.run import Run, RunStatus

T = datetime(2026, 12, 7, 9, tzinfo=timezone.utc)


def _waiting(db, key, due_sk):
    db.put_item(TableName=config.table_name(), Item={**key, "DUE_PK": {"S": due_shard_key(3)}, "DUE_SK": {"S": due_sk}})


def _page_through(store, limit):
    found, positions, after = [], [], None
    while True:
        page, after = store.due(3, T + timedelta(hours=1), limit, after)
        found += page
        if after is None:
            return found, positions
        positions.append(after)


def test_runs_are_read_from_their_keys_whichever_sort_key_the_index_holds(aws):
    db = boto3.client("dynamodb")
    store = DynamoRunStore(db, config.table_name())
    runs = [("acc_a", f"run_{n}") for n in range(6)]
    for n, (account, run) in enumerate(runs):
        when = sortable(T + timedelta(minutes=n))
        # this release's keys, the shorter ones of a release after it, and one stored before the sharding
        due_sk = when if n % 2 else f"{when}#{account}#{run}"
        _waiting(db, legacy_run_key(account, run) if n == 4 else runs_key(account, run), due_sk)
    for limit in (1, 2, 100):
        found, positions = _page_through(store, limit)
        assert found == runs, limit  # every run once, oldest first, across pages of either key
    _, positions = _page_through(store, 1)
    # a position the release before reads (its DUE_SK) where the key names the run, else with the keys
    assert [p.count("|") for p in positions] == [0, 2, 0, 2, 0]
    assert positions[0] == f"{sortable(T)}#acc_a#run_0"


def test_a_run_is_stored_at_its_time_alone_and_found_by_the_redrive_and_its_time_bucket(aws):
    db = boto3.client("dynamodb")
    store = DynamoRunStore(db, config.table_name())
    due = T + timedelta(minutes=3, seconds=20)
    run = Run(account_id="acc_a", id="run_new", automation_id=7, subject_kind=SubjectKind.CONTACT,
              subject_id="c_1", occurrence="o", status=RunStatus.SCHEDULED, created_at=T, updated_at=T, due_at=due)
    assert store.put_new(run)
    item = db.get_item(TableName=config.table_name(), Key=runs_key("acc_a", "run_new"))["Item"]
    assert item["DUE_SK"] == {"S": sortable(due)}
    shard = store.due_shard(run)
    assert store.due(shard, T + timedelta(hours=1), 10) == ([("acc_a", "run_new")], None)
    assert store.due_in_minute(shard, T + timedelta(minutes=3), 10, None) == ([("acc_a", "run_new")], None)
    assert store.due_in_minute(shard, T + timedelta(minutes=4), 10, None) == ([], None)
