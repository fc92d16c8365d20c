"""The partition-heat recorder (local/automations_local/heat.py) over moto: it charges each write
to the partition key it lands on, on the table and on each GSI as the item moves in it, and the
check fails a key that would take more than a partition's limits at the production rate (an
unsharded key) while the same traffic spread over shards passes."""
import boto3

from automations import config
from automations_local.heat import Recorder, hot_keys


def _recorder(db):
    return Recorder(db, config.table_name(), clients={"dynamodb": db})


def test_an_unsharded_key_fails_and_the_same_writes_over_shards_pass(aws):
    db = boto3.client("dynamodb")
    recorder = _recorder(db)
    with recorder.attached():
        with recorder.phase("unsharded", 200):
            for n in range(200):
                db.put_item(TableName=config.table_name(), Item={"PK": {"S": "OUTBOX"}, "SK": {"S": f"D#{n}"}})
        with recorder.phase("sharded", 200):
            for n in range(200):
                db.put_item(TableName=config.table_name(),
                            Item={"PK": {"S": f"OUTBOX#{n % 32}"}, "SK": {"S": f"D#{n}"}})
    # 1 write unit a unit of work: at 3,333 a second one key takes 3,333 > 1,000; over 32, 104 each.
    [hot] = hot_keys(recorder.phases["unsharded"], 3333)
    assert (hot.kind, hot.index, hot.key, round(hot.per_second)) == ("write", "table", "OUTBOX", 3333)
    assert hot_keys(recorder.phases["sharded"], 3333) == []
    assert hot_keys(recorder.phases["unsharded"], 999) == []  # under the limit at a lower rate


def test_index_writes_follow_the_item_in_and_out_of_each_index(aws):
    db = boto3.client("dynamodb")
    table = config.table_name()
    recorder = _recorder(db)
    key = {"PK": {"S": "ACCOUNT#a#RUNS#1"}, "SK": {"S": "RUN#r"}}
    with recorder.attached(), recorder.phase("moves", 1) as phase:
        db.put_item(TableName=table, Item={**key, "DUE_PK": {"S": "RUNS#3"}, "DUE_SK": {"S": "t1"},
                                           "GSI1PK": {"S": "AUTOMATION#7#1"}, "GSI1SK": {"S": "x"}})
        db.update_item(TableName=table, Key=key, UpdateExpression="SET DUE_SK = :t, note = :n",
                       ExpressionAttributeValues={":t": {"S": "t2"}, ":n": {"S": "claimed"}})
        db.update_item(TableName=table, Key=key, UpdateExpression="SET note = :n",
                       ExpressionAttributeValues={":n": {"S": "sent"}})
        db.update_item(TableName=table, Key=key, UpdateExpression="REMOVE DUE_PK, DUE_SK")
        db.transact_write_items(TransactItems=[{"ConditionCheck": {
            "TableName": table, "Key": key, "ConditionExpression": "attribute_exists(PK)"}}])
    assert phase.writes[("table", "ACCOUNT#a#RUNS#1")] == 4 + 2  # four writes, and a transactional check
    # DueIndex (keys only): in, moved (out and in), untouched by a change of other attributes, out.
    assert phase.writes[("DueIndex", "RUNS#3")] == 1 + 2 + 0 + 1
    assert phase.writes[("GSI1", "AUTOMATION#7#1")] == 4  # all attributes: every change of the item
    assert phase.calls["dynamodb.UpdateItem"] == 3 and phase.calls["dynamodb.TransactWriteItems"] == 1


def test_a_write_costs_the_larger_of_the_item_before_and_after_it(aws):
    db = boto3.client("dynamodb")
    table = config.table_name()
    recorder = _recorder(db)
    key = {"PK": {"S": "ACCOUNT#a#DELIVERIES#1"}, "SK": {"S": "DELIVERY#d"}}
    with recorder.attached(), recorder.phase("shrinks", 1) as phase:
        db.put_item(TableName=table, Item={**key, "body": {"S": "x" * 1500}})  # 2 units
        db.update_item(TableName=table, Key=key, UpdateExpression="REMOVE body")  # 1.5 KB before: 2
        db.put_item(TableName=table, Item={**key, "body": {"S": "y" * 1500}})  # 2
        db.put_item(TableName=table, Item=key)  # replaces 1.5 KB: 2
        db.delete_item(TableName=table, Key=key)  # a few bytes: 1
    assert phase.writes[("table", "ACCOUNT#a#DELIVERIES#1")] == 2 + 2 + 2 + 2 + 1


def test_invocations_are_counted_under_who_made_them(aws, monkeypatch):
    """The scheduler driver invokes through lambdas.invoke_async, which calls lambdas.invoke: its
    invocations and the calls they make are the scheduler's, not the API's."""
    from types import SimpleNamespace

    from automations_local import api_gateway, lambdas, scheduler

    db = boto3.client("dynamodb")
    for module in (api_gateway, lambdas):
        monkeypatch.setattr(module, "invoke", lambda function, event, **_: db.get_item(
            TableName=config.table_name(), Key={"PK": {"S": "X"}, "SK": {"S": "Y"}}))
    recorder = _recorder(db)
    executor = SimpleNamespace(logical_id="RunExecutorFunction", async_retries=0, on_failure_arn=None)
    with recorder.attached(), recorder.phase("invoked", 1) as phase:
        scheduler.invoke_async(executor, {})
        api_gateway.invoke(executor, {})
    assert phase.invocations == {("scheduler", "RunExecutorFunction"): 1, ("api_gateway", "RunExecutorFunction"): 1}
    assert phase.stage_calls == {("scheduler", "RunExecutorFunction", "dynamodb.GetItem"): 1,
                                 ("api_gateway", "RunExecutorFunction", "dynamodb.GetItem"): 1}


def test_a_write_costs_a_unit_per_kilobyte_of_the_item_as_dynamodb_sizes_it(aws):
    """Names plus values: a JSON document stored as a string counts its quotes once, not as the
    escaped wire form (which doubled them); past 1,024 bytes a second unit."""
    db = boto3.client("dynamodb")
    recorder = _recorder(db)
    with recorder.attached(), recorder.phase("sizes", 1) as phase:
        for partition, body in (("QUOTES", '"' * 990), ("JUST-UNDER", "x" * 1000), ("JUST-OVER", "x" * 1002)):
            db.put_item(TableName=config.table_name(), Item={  # PK + SK + data names, values, a number
                "PK": {"S": partition}, "SK": {"S": "S"}, "data": {"S": body}, "n": {"N": "12345"}})
    assert phase.writes[("table", "QUOTES")] == 1
    assert phase.writes[("table", "JUST-UNDER")] == 1  # names 9, values 10 + 1 + 1,000 + 4 (5 digits): 1,024
    assert phase.writes[("table", "JUST-OVER")] == 2  # 9 + 9 + 1 + 1,002 + 4 = 1,025


def test_a_transactional_write_costs_twice_on_the_table_and_once_on_each_index(aws):
    """The developer guide's "Capacity management for transactions": two underlying writes of
    every item in the transaction (prepare, commit); a completed transaction's changes are then
    propagated to the GSIs, one index write each."""
    db = boto3.client("dynamodb")
    recorder = _recorder(db)
    with recorder.attached(), recorder.phase("transaction", 1) as phase:
        db.transact_write_items(TransactItems=[{"Put": {"TableName": config.table_name(), "Item": {
            "PK": {"S": "ACCOUNT#a#RUNS#1"}, "SK": {"S": "RUN#r"}, "GSI1PK": {"S": "AUTOMATION#7#1"},
            "GSI1SK": {"S": "x"}, "DUE_PK": {"S": "RUNS#3"}, "DUE_SK": {"S": "t1"}}}}])
    assert phase.writes[("table", "ACCOUNT#a#RUNS#1")] == 2
    assert phase.writes[("GSI1", "AUTOMATION#7#1")] == 1 and phase.writes[("DueIndex", "RUNS#3")] == 1
