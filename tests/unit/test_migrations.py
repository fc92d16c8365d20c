"""Data migrations (issue 22, part 3), each tested on data written by the layout before it: items
put here directly with the old key shapes. Before a migration has finished, the product reads the
old keys too (nothing written before is lost or done twice meanwhile); the migration moves the
items, resumably (a step at a time, from where it stopped) and idempotently (run again, or by two
runners, it changes nothing twice); afterwards only the new keys are read."""
import json
from datetime import timedelta

import boto3
import pytest
import test_run_engine
from support import ticket_store, unmigrated

from automations import clock, config
from automations.adapters import dynamo_migrations, migration_state
from automations.adapters.dynamo_deliveries import DynamoDeliveryStore
from automations.adapters.shards import shard_of
from automations.domain import event_rules
from automations.domain.contact_rules import ClockTime, Delay, Recurrence
from automations.domain.model import Action, AutomationDraft, Conditions, SubjectKind, Trigger
from automations.domain.run import RunStatus

moving = test_run_engine.moving


@pytest.fixture
def env(services, moving, aws):
    return test_run_engine.Env(services, moving, aws)


def _db():
    return boto3.client("dynamodb")


def _items(prefix=None, **where):
    """Every item of the table (moto) whose attributes start as ``where`` says."""
    found = []
    for page in _db().get_paginator("scan").paginate(TableName=config.table_name()):
        found += [i for i in page["Items"]
                  if all(name in i and i[name]["S"].startswith(value) for name, value in where.items())]
    return found


def _old(account_id, prefix):
    """The items still under the account's own partition whose SK starts with ``prefix``."""
    return [i for i in _items(SK=prefix) if i["PK"]["S"] == f"ACCOUNT#{account_id}"]


def _rewrite(item, old):
    """Put ``old`` (an item in the layout of before) in place of ``item``."""
    _db().delete_item(TableName=config.table_name(), Key={"PK": item["PK"], "SK": item["SK"]})
    _db().put_item(TableName=config.table_name(), Item=old)


def _run_before_sharding(item):
    account_id, run_id = item["PK"]["S"].split("#")[1], item["SK"]["S"].removeprefix("RUN#")
    old = {**item, "PK": {"S": f"ACCOUNT#{account_id}"},
           "GSI1PK": {"S": item["GSI1PK"]["S"].rsplit("#", 1)[0]}}  # ACCOUNT#<a>#RUNS#AUTOMATION#<id>
    if "DUE_PK" in item:
        old["DUE_PK"] = {"S": f"RUNS#{shard_of(run_id, 8)}"}  # the DueIndex had 8 shards
    return old


def _migrate(services):
    ran = services.migrations.run()
    assert ran["pending"] == []
    return ran


def test_runs_written_before_the_sharding_run_once_and_are_moved(env):
    env.rule(env.send_email(), delay=Delay(0, 2, 0))
    people = [env.contact(email=f"c{n}@example.com") for n in range(2)]
    env.services.contact_lists.add_members(env.account, env.list.id, [p.uuid for p in people])
    env.ingest()
    runs = env.runs()
    for item in _items(PK=f"ACCOUNT#{env.account}#RUNS#"):
        _rewrite(item, _run_before_sharding(item))
    unmigrated(migration_state.RUNS_SHARDED)
    for s in env.schedules():  # their schedules were lost too: only the DueIndex (8 old shards) knows them
        env.scheduler.delete_schedule(GroupName=s["GroupName"], Name=s["Name"])
    assert {r.id for r in env.runs()} == set()  # the listing reads the new keys only, until the move
    assert env.engine._store.get(env.account, runs[0].id).status is RunStatus.SCHEDULED  # by id: found
    joins, _ = env.services.contact_events.since(env.account)
    assert env.engine.on_contact_events([e for e in joins if e.is_join]).runs != []  # the joins replayed:
    assert len(_items(SK="RUN#")) == 2  # no second run for either
    env.clock.set(runs[0].due_at + timedelta(minutes=10))
    assert env.engine.redrive() == 2  # found in the old DueIndex shards, executed once
    assert {r.status for r in env.drain() if r} == {RunStatus.SUCCEEDED} and len(env.sent()) == 2
    ran = _migrate(env.services)
    assert migration_state.RUNS_SHARDED in ran["finished"]
    assert _old(env.account, "RUN#") == []
    assert {r.id: r.status for r in env.runs()} == {r.id: RunStatus.SUCCEEDED for r in runs}
    assert env.engine.redrive() == 0 and len(env.sent()) == 2
    automation_runs, _ = env.services.runs.list(env.account, automation_id=runs[0].automation_id)
    assert len(automation_runs) == 2  # by automation: the moved runs' index keys are sharded


def test_a_run_waiting_when_moved_keeps_its_schedule_and_runs_once(env):
    env.rule(env.send_email(), delay=Delay(0, 2, 0))
    ann = env.contact()
    env.join(ann)
    [run] = env.runs()
    [item] = _items(PK=f"ACCOUNT#{env.account}#RUNS#")
    _rewrite(item, _run_before_sharding(item))
    unmigrated(migration_state.RUNS_SHARDED)
    _migrate(env.services)
    [moved] = _items(SK="RUN#")
    assert moved["PK"] == item["PK"] and moved["GSI1PK"] == item["GSI1PK"] and moved["DUE_PK"] == item["DUE_PK"]
    env.live_until(run.due_at + timedelta(minutes=1))
    assert [r.status for r in env.runs()] == [RunStatus.SUCCEEDED] and len(env.sent()) == 1


def test_an_unsent_delivery_in_the_old_outbox_is_relayed_once_and_moved(env):
    from automations.bootstrap import services

    env.rule(env.send_email())
    ann = env.contact()
    env.join(ann)
    env.drain()
    [run] = env.runs()
    store = DynamoDeliveryStore(boto3.client("dynamodb"), config.table_name())
    [delivery] = [d for d in (store.get(env.account, i) for i in run.deliveries) if d.channel.value == "email"]
    [item] = _items(SK=f"DELIVERY#{delivery.id}")  # written as a crash before its send left it, before the sharding
    account_id = env.account
    old = {**item, "PK": {"S": f"ACCOUNT#{account_id}"}, "status": {"S": "pending"}, "attempts": {"N": "0"},
           "DUE_PK": {"S": "OUTBOX"}, "DUE_SK": {"S": f"{delivery.created_at.isoformat()}#{delivery.id}"}}
    old.pop("provider_id", None)
    _rewrite(item, old)
    unmigrated(migration_state.DELIVERIES_SHARDED)
    sent_before = len(env.sent())  # the mail as sent before (the local outbox keeps each send)
    assert services().deliveries.relay() == 1  # read from the old OUTBOX, copied to its new key, sent
    assert services().deliveries.relay() == 0  # and not again
    assert len(env.sent()) == sent_before + 1
    assert store.put_new(delivery).status.value == "sent"  # a retried run finds it sent: never resent
    _migrate(env.services)
    assert [i["PK"]["S"] for i in _items(SK=f"DELIVERY#{delivery.id}")] == [item["PK"]["S"]]
    assert services().deliveries.relay() == 0


def test_members_who_joined_before_the_sharding_are_members_and_get_their_recurring_runs(env, monkeypatch):
    from automations.adapters.dynamo_contacts import DynamoGroupStore

    daily = env.rule(env.send_email(), trigger=Trigger.RECURRING,
                     recurrence=Recurrence("daily", ClockTime(9 * 60), False))
    people = [env.contact(email=f"m{n}@example.com") for n in range(3)]
    env.services.contact_lists.add_members(env.account, env.list.id, [p.uuid for p in people])
    for item in _items(PK=f"ACCOUNT#{env.account}#MEMBERS#LIST#"):
        _rewrite(item, {**item, "PK": {"S": f"ACCOUNT#{env.account}"},
                        "SK": {"S": f"MEMBER#LIST#{env.list.id:012d}#{item['contact_uuid']['S']}"}})
    unmigrated(migration_state.MEMBERSHIPS_SHARDED)
    store = DynamoGroupStore(_db(), config.table_name(), env.list.kind)
    assert store.member_shards == 17 and all(
        store.is_member(env.account, env.list.id, p.uuid) for p in people)
    assert env.services.contact_lists.remove_member(env.account, env.list.id, people[2].uuid) is not False
    assert not store.is_member(env.account, env.list.id, people[2].uuid)  # left: its old membership is gone
    env.clock.set(env.clock.now().replace(hour=9, minute=0) + timedelta(days=1))
    env.expand({"account_id": env.account, "automation_id": daily.id, "day": clock.now().astimezone(
        test_run_engine.NY).date().isoformat()})
    assert sorted(r.subject_id for r in env.runs()) == sorted(p.uuid for p in people[:2])
    _migrate(env.services)
    assert store.member_shards == 16 and _old(env.account, "MEMBER#") == []
    members, _ = env.services.contact_lists.members(env.account, env.list.id, limit=10)
    assert sorted(m.contact_uuid for m in members) == sorted(p.uuid for p in people[:2])


def _ticket(services, account_id, n):
    return services.tickets.create(account_id, {"subject": f"T{n}", "description": "hi",
                                                "requester": {"email": "r@example.com"}})[0]


def test_tickets_and_audits_without_index_keys_or_with_unsharded_ones_are_listed_once_migrated(services):
    account = services.accounts.create_account("Acme", "owner@acme.test")[0]
    tickets = [_ticket(services, account.id, n) for n in range(6)]
    # Two tickets (and their audits) written before GSI2 listed them, two with the unsharded keys.
    for item in _items(GSI2PK=f"ACCOUNT#{account.id}#"):
        if item["GSI2PK"]["S"].split("#")[2] not in ("TICKET_UPDATES", "AUDITS"):
            continue  # users are listed on GSI2 too
        ticket_id = int(json.loads(item["data"]["S"])["ticket_id" if item["SK"]["S"].startswith("AUDIT#") else "id"])
        position = [t.id for t in tickets].index(ticket_id)
        if position < 2:
            _rewrite(item, {k: v for k, v in item.items() if k not in ("GSI2PK", "GSI2SK")})
        elif position < 4:
            _rewrite(item, {**item, "GSI2PK": {"S": item["GSI2PK"]["S"].rsplit("#", 1)[0]}})
    unmigrated(migration_state.TICKET_INDEX_KEYS, migration_state.TICKET_INDEX_SHARDED)
    store = ticket_store()

    def exported():
        found, _ = store.updated_since(account.id, "2000", 100, inclusive=True, max_bytes=1 << 20)
        return [t.id for _, t in found]

    def audited():
        found, _ = store.account_audits(account.id, 100)
        return sorted(a.ticket_id for _, a in found)

    assert sorted(exported()) == [t.id for t in tickets[2:]]  # the unsharded ones merged in; keyless not yet
    assert audited() == [t.id for t in tickets[2:]]
    ran = _migrate(services)
    assert {migration_state.TICKET_INDEX_KEYS, migration_state.TICKET_INDEX_SHARDED} <= set(ran["finished"])
    assert exported() == sorted(t.id for t in tickets) and audited() == sorted(t.id for t in tickets)
    assert not [i for i in _items(GSI2PK=f"ACCOUNT#{account.id}#") if i["GSI2PK"]["S"].endswith(("TICKET_UPDATES", "AUDITS"))]
    assert _migrate(services)["migrated"] == 0  # again: nothing left to change


def test_automations_saved_before_the_trigger_index_are_found_by_events_once_migrated(services):
    account = services.accounts.create_account("Acme", "owner@acme.test")[0]
    automation = services.automations.create(account.id, AutomationDraft(
        title="Placed", subject=SubjectKind.CONTACT, trigger=Trigger.EVENT, conditions=Conditions(),
        trigger_config=event_rules.trigger_config("shop.order_placed", Delay(0, 1, 0), None),
        actions=(Action("webhook", {"webhook_id": "wh_x", "body": "x"}),)))
    [item] = _items(SK=f"AUTOMATION#{automation.id:012d}")
    _rewrite(item, {k: v for k, v in item.items() if k not in ("GSI2PK", "GSI2SK")})
    unmigrated(migration_state.AUTOMATION_TRIGGERS)
    assert [a.id for a in services.automations.listening(account.id, Trigger.EVENT, "shop.order_placed")] == [
        automation.id]  # read whole meanwhile
    _migrate(services)
    [moved] = _items(SK=f"AUTOMATION#{automation.id:012d}")
    assert moved["GSI2PK"]["S"].endswith("#AUTOMATIONS#event#shop.order_placed")
    assert [a.id for a in services.automations.listening(account.id, Trigger.EVENT, "shop.order_placed")] == [
        automation.id]


def test_a_migration_goes_on_from_where_it_stopped_and_two_runners_change_nothing_twice(env, monkeypatch):
    monkeypatch.setattr(dynamo_migrations, "PAGE", 1)
    env.rule(env.send_email(), delay=Delay(0, 2, 0))
    people = [env.contact(email=f"c{n}@example.com") for n in range(3)]
    env.services.contact_lists.add_members(env.account, env.list.id, [p.uuid for p in people])
    env.ingest()
    for item in _items(PK=f"ACCOUNT#{env.account}#RUNS#"):
        _rewrite(item, _run_before_sharding(item))
    unmigrated(*[m.name for m in dynamo_migrations.migrations(_db(), config.table_name())])
    steps = 0
    while env.services.migrations.run(has_time=lambda: False)["pending"]:  # a step a call
        steps += 1
        assert steps < 50
    assert steps >= 3  # the three runs one page each, after the empty ones
    assert len(_items(SK="RUN#")) == 3 and _old(env.account, "RUN#") == []
    status = {m["name"]: m for m in env.services.migrations.status()}
    assert status[migration_state.RUNS_SHARDED] == {**status[migration_state.RUNS_SHARDED], "done": True, "migrated": 3}
    unmigrated(migration_state.RUNS_SHARDED)  # run again from the start: nothing is in the old shape
    store = dynamo_migrations.DynamoMigrationStore(_db(), config.table_name())
    assert store.save(migration_state.RUNS_SHARDED, {"steps": 1, "done": False}, 0)
    assert not store.save(migration_state.RUNS_SHARDED, {"steps": 1, "done": False}, 0)  # a second runner loses
    for item in _items(PK=f"MIGRATION#{migration_state.RUNS_SHARDED}"):
        _db().delete_item(TableName=config.table_name(), Key={"PK": item["PK"], "SK": item["SK"]})
    migration_state.forget()
    assert _migrate(env.services)["migrated"] == 0


def test_the_deploy_step_and_the_command_run_what_is_pending(env, capsys, monkeypatch):
    from automations_local import cli
    from automations_local.router import invoke

    unmigrated(migration_state.RUNS_SHARDED)
    answer = invoke(env.template.functions["SweepCoordinatorFunction"], {"duties": "migrate"})
    assert answer["pending"] == [] and answer["finished"] == [migration_state.RUNS_SHARDED]
    unmigrated(migration_state.AUTOMATION_TRIGGERS)
    monkeypatch.setenv(cli.TABLE_ENV, config.table_name())
    assert cli.main(["migrate"]) == 0
    out = capsys.readouterr().out
    assert f"finished: {migration_state.AUTOMATION_TRIGGERS}" in out and "pending" not in out.split("finished")[1]
