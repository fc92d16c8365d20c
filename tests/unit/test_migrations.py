"""Data migrations (issue 22, part 3), each tested on data written by the layout before it: items
put here directly with the old key shapes. Before a migration has finished, the product reads the
old keys too (nothing written before is lost or done twice meanwhile); the migration moves the
items, resumably (a step at a time, from where it stopped) and idempotently (run again, or by two
runners, it changes nothing twice); afterwards only the new keys are read."""
import json
from datetime import timedelta

import boto3
from support import ticket_store, unmigrated
from simulator import NY

from automations import clock, config
from automations.adapters import dynamo_migrations, migration_state
from automations.adapters.dynamo_deliveries import DynamoDeliveryStore
from automations.adapters.shards import shard_of
from automations.domain import event_rules
from automations.domain.contact_rules import ClockTime, Delay, Recurrence
from automations.domain.model import Action, AutomationDraft, Conditions, SubjectKind, Trigger
from automations.domain.run import RunStatus
from automations.surfaces.zendesk_tickets import new_ticket, ticket_changes



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


def _run_listed_by_gsi1(item):
    """A run item as releases before the AutomationRunsIndex wrote it: GSI1 listed it."""
    old = {name: value for name, value in item.items() if name not in ("ARUNS_PK", "ARUNS_SK")}
    return {**old, "GSI1PK": item["ARUNS_PK"], "GSI1SK": item["ARUNS_SK"]}


def _run_before_sharding(item):
    account_id, run_id = item["PK"]["S"].split("#")[1], item["SK"]["S"].removeprefix("RUN#")
    old = _run_listed_by_gsi1(item)
    old.update(PK={"S": f"ACCOUNT#{account_id}"},
               GSI1PK={"S": old["GSI1PK"]["S"].rsplit("#", 1)[0]})  # ACCOUNT#<a>#RUNS#AUTOMATION#<id>
    if "DUE_PK" in item:
        old["DUE_PK"] = {"S": f"RUNS#{shard_of(run_id, 8)}"}  # the DueIndex had 8 shards
    return old


def _runs_as_written_before(env, contacts, old_shape):
    """``contacts`` contacts join a list whose automation emails two hours later; their runs are
    put back as ``old_shape(item)`` says a release before wrote them. The contacts."""
    env.rule(env.send_email(), delay=Delay(0, 2, 0))
    people = [env.contact(email=f"c{n}@example.com") for n in range(contacts)]
    env.services.contact_lists.add_members(env.account, env.list.id, [p.uuid for p in people])
    env.ingest()
    for item in _items(PK=f"ACCOUNT#{env.account}#RUNS#"):
        _rewrite(item, old_shape(item))
    return people


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
    assert env.run_store.get(env.account, runs[0].id).status is RunStatus.SCHEDULED  # by id: found
    joins, _ = env.services.contact_events.since(env.account)
    assert env.launcher.on_contact_events([e for e in joins if e.is_join]).runs != []  # the joins replayed:
    assert len(_items(SK="RUN#")) == 2  # no second run for either
    env.clock.set(runs[0].due_at + timedelta(minutes=10))
    assert env.executor.redrive().done == 2  # found in the old DueIndex shards, executed once
    assert {r.status for r in env.drain() if r} == {RunStatus.SUCCEEDED} and len(env.sent()) == 2
    ran = _migrate(env.services)
    assert migration_state.RUNS_SHARDED in ran["finished"]
    assert _old(env.account, "RUN#") == []
    assert {r.id: r.status for r in env.runs()} == {r.id: RunStatus.SUCCEEDED for r in runs}
    assert env.executor.redrive().done == 0 and len(env.sent()) == 2
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
    assert moved["PK"] == item["PK"] and moved["ARUNS_PK"] == item["ARUNS_PK"] and moved["DUE_PK"] == item["DUE_PK"]
    assert "GSI1PK" not in moved
    env.live_until(run.due_at + timedelta(minutes=1))
    assert [r.status for r in env.runs()] == [RunStatus.SUCCEEDED] and len(env.sent()) == 1


def test_runs_listed_by_gsi1_get_the_automation_runs_index_keys(env, monkeypatch):
    """Runs as the release before wrote them (GSI1 keys, every attribute copied to it): their
    automation's listing finds them once moved, a contact's listing by automation meanwhile too;
    one written since keeps what it was written with; the move is resumable and done once."""
    env.rule(env.send_email(), delay=Delay(0, 2, 0))
    people = [env.contact(email=f"c{n}@example.com") for n in range(3)]
    env.services.contact_lists.add_members(env.account, env.list.id, [p.uuid for p in people])
    env.ingest()
    runs = env.runs()
    automation_id = runs[0].automation_id
    for item in _items(PK=f"ACCOUNT#{env.account}#RUNS#"):
        _rewrite(item, _run_listed_by_gsi1(item))
    unmigrated(migration_state.RUNS_AUTOMATION_INDEX)
    assert env.services.runs.list(env.account, automation_id=automation_id)[0] == []  # until moved
    ann = next(r for r in runs if r.subject_id == people[0].uuid)
    [listed] = env.services.runs.list(env.account, automation_id=automation_id,
                                      subject=(SubjectKind.CONTACT, people[0].uuid))[0]
    assert listed.id == ann.id  # by contact and automation: either key
    env.executor.cancel(env.account, ann.id)  # written since: with the index's keys
    assert [i for i in _items(SK=f"RUN#{ann.id}") if "ARUNS_PK" in i and "GSI1PK" not in i]
    monkeypatch.setattr(dynamo_migrations, "PAGE", 1)
    migration = dynamo_migrations.RunsAutomationIndex(_db(), config.table_name())
    moved, steps, position = 0, 0, None
    while True:  # a run a step, from the shard and key where it stopped
        changed, position = migration.step(env.account, position)
        moved, steps = moved + changed, steps + 1
        if position is None:
            break
    assert moved == 2 and steps >= 3
    assert _migrate(env.services)["migrated"] == 0  # nothing is in the old shape any more
    assert not [i for i in _items(PK=f"ACCOUNT#{env.account}#RUNS#") if "GSI1PK" in i or "GSI1SK" in i]
    listed, cursor = env.services.runs.list(env.account, automation_id=automation_id)
    assert cursor is None and {r.id for r in listed} == {r.id for r in runs}
    listed, _ = env.services.runs.list(env.account, automation_id=automation_id, status=RunStatus.CANCELLED)
    assert [r.id for r in listed] == [ann.id]


def _run_listed_by_gsi2(item):
    """A run item as releases before the SubjectRunsIndex wrote it: GSI2 listed it."""
    old = {name: value for name, value in item.items() if name not in ("SRUNS_PK", "SRUNS_SK")}
    return {**old, "GSI2PK": item["SRUNS_PK"], "GSI2SK": item["SRUNS_SK"]}


def test_runs_listed_by_gsi2_get_the_subject_runs_index_keys_and_are_listed_throughout(env, monkeypatch):
    """Runs as the release before wrote them (GSI2 keys only): until the migration has finished a
    contact's listing reads GSI2, and a run written meanwhile carries both keys; once it has, the
    keys-only SubjectRunsIndex lists them all (what cancels and re-plans a contact's runs reads),
    and a run written from then on leaves GSI2."""
    env.rule(env.send_email(), delay=Delay(0, 2, 0))
    ann, bob = env.contact(), env.contact(email="bob@example.com")
    env.services.contact_lists.add_members(env.account, env.list.id, [ann.uuid, bob.uuid])
    env.ingest()
    for item in _items(PK=f"ACCOUNT#{env.account}#RUNS#"):
        _rewrite(item, _run_listed_by_gsi2(item))
    unmigrated(migration_state.RUNS_SUBJECT_INDEX)
    [ann_run] = env.runs(ann)  # by GSI2, while unfinished
    other = env.services.contact_lists.create(env.account, "Second")
    env.rule(env.send_email(), source_id=other.id, delay=Delay(0, 3, 0))
    env.join(ann, other)  # written meanwhile: both keys
    [both] = [i for i in _items(PK=f"ACCOUNT#{env.account}#RUNS#") if "SRUNS_PK" in i]
    assert both["GSI2PK"] == both["SRUNS_PK"] and len(env.runs(ann)) == 2
    monkeypatch.setattr(dynamo_migrations, "PAGE", 1)
    ran = _migrate(env.services)
    assert migration_state.RUNS_SUBJECT_INDEX in ran["finished"] and ran["migrated"] == 2
    runs = _items(PK=f"ACCOUNT#{env.account}#RUNS#")
    assert all(i["SRUNS_PK"] == i["GSI2PK"] and i["SRUNS_SK"] == i["GSI2SK"] for i in runs)  # GSI2's stay
    for name in ("GSI2PK", "GSI2SK"):  # from here on only the index can list them
        for item in runs:
            _db().update_item(TableName=config.table_name(), Key={"PK": item["PK"], "SK": item["SK"]},
                              UpdateExpression=f"REMOVE {name}")
    listed = env.runs(ann)
    assert len(listed) == 2 and listed[0].created_at >= listed[1].created_at and ann_run.id in {r.id for r in listed}
    first, cursor = env.services.runs.list(env.account, subject=(SubjectKind.CONTACT, ann.uuid),
                                           status=RunStatus.SCHEDULED, limit=1)
    second, end = env.services.runs.list(env.account, subject=(SubjectKind.CONTACT, ann.uuid),
                                         status=RunStatus.SCHEDULED, limit=1, cursor=cursor)
    assert [r.id for r in first + second] == [r.id for r in listed] and end is None
    assert env.executor.cancel_sends(env.account, ann.uuid, [env.email.id], by="run_test") == 2
    assert not [i for i in _items(PK=f"ACCOUNT#{env.account}#RUNS#") if "GSI2PK" in i]  # written since: off GSI2
    assert _migrate(env.services)["migrated"] == 0


def test_a_process_that_read_the_subject_index_unfinished_just_before_it_finished_still_lists_what_others_wrote(
        env, monkeypatch):
    """A process reads a migration's state once a minute while it is unfinished: one that read it
    just before RUNS_SUBJECT_INDEX finished still takes it for unfinished, while another, that
    read it finished, writes runs without GSI2's keys. A contact's listing (what cancels and
    re-plans its runs) reads the state afresh before it takes GSI2, so it misses none of them."""
    import time

    env.rule(env.send_email(), delay=Delay(0, 2, 0))
    ann = env.contact()
    env.join(ann)  # written by a process that knows the migration finished: SubjectRunsIndex only
    assert not [i for i in _items(PK=f"ACCOUNT#{env.account}#RUNS#") if "GSI2PK" in i]
    monkeypatch.setitem(migration_state._known, (config.table_name(), migration_state.RUNS_SUBJECT_INDEX),
                        time.monotonic())  # read unfinished a moment ago
    assert len(env.runs(ann)) == 1
    assert env.executor.cancel_sends(env.account, ann.uuid, [env.email.id], by="run_test") == 1


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
        NY).date().isoformat()})
    assert sorted(r.subject_id for r in env.runs()) == sorted(p.uuid for p in people[:2])
    _migrate(env.services)
    assert store.member_shards == 16 and _old(env.account, "MEMBER#") == []
    members, _ = env.services.contact_lists.members(env.account, env.list.id, limit=10)
    assert sorted(m.contact_uuid for m in members) == sorted(p.uuid for p in people[:2])


def _ticket(services, account_id, n):
    return services.tickets.create(account_id, new_ticket({"subject": f"T{n}", "description": "hi",
                                                           "requester": {"email": "r@example.com"}}))[0]


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
    _runs_as_written_before(env, 3, _run_before_sharding)
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


def test_the_upkeep_goes_on_with_a_started_migration_and_never_starts_one(env, monkeypatch):
    """The half-past upkeep may run the new release while a canary still runs the one before
    (which writes the old keys only): it never starts a migration, which the deploy's step does
    once every function runs the new release; it goes on with one started."""
    from automations_local.lambdas import invoke

    monkeypatch.setattr(dynamo_migrations, "PAGE", 1)
    _runs_as_written_before(env, 2, _run_listed_by_gsi1)
    unmigrated(migration_state.RUNS_AUTOMATION_INDEX)
    coordinator, upkeep = env.template.functions["SweepCoordinatorFunction"], {"duties": "upkeep"}
    assert invoke(coordinator, upkeep)["migrations_pending"] == [migration_state.RUNS_AUTOMATION_INDEX,
                                                                  migration_state.RUNS_SUBJECT_INDEX]
    assert _items(PK=f"MIGRATION#{migration_state.RUNS_AUTOMATION_INDEX}") == []  # not started
    assert len([i for i in _items(PK=f"ACCOUNT#{env.account}#RUNS#") if "GSI1PK" in i]) == 2
    assert env.services.migrations.run(has_time=lambda: False)["pending"]  # the deploy's step: one step
    assert invoke(coordinator, upkeep)["migrations_pending"] == []  # the upkeep goes on to the end
    assert not [i for i in _items(PK=f"ACCOUNT#{env.account}#RUNS#") if "GSI1PK" in i]


def test_the_deploy_step_and_the_command_run_what_is_pending(env, capsys, monkeypatch):
    from automations_local import cli
    from automations_local.lambdas import invoke

    unmigrated(migration_state.RUNS_SHARDED)
    answer = invoke(env.template.functions["SweepCoordinatorFunction"], {"duties": "migrate"})
    assert answer["pending"] == [] and answer["finished"] == [migration_state.RUNS_SHARDED]
    unmigrated(migration_state.AUTOMATION_TRIGGERS)
    monkeypatch.setenv(cli.TABLE_ENV, config.table_name())
    assert cli.main(["migrate"]) == 0
    out = capsys.readouterr().out
    assert f"finished: {migration_state.AUTOMATION_TRIGGERS}" in out and "pending" not in out.split("finished")[1]


def _before(prefix, account_id, *gone):
    """The account's items whose SK starts with ``prefix`` rewritten without the attributes ``gone``."""
    for item in _old(account_id, prefix):
        _rewrite(item, {k: v for k, v in item.items() if k not in gone})


def _forget_counts(partition_prefix, sort_prefix=""):
    """The counters of before a count existed: none."""
    for item in _items(PK=partition_prefix, SK=sort_prefix):
        _db().delete_item(TableName=config.table_name(), Key={"PK": item["PK"], "SK": item["SK"]})


def _by_role(services, account_id):
    """Each role's users as listed through the role index, and the count the listing gives."""
    listed = {}
    for role in ("end-user", "agent"):
        page = services.users.list_page(account_id, 1, 100, roles=[role])
        listed[role] = (sorted(u.id for u in page.items), page.count)
    return listed


def test_users_stored_before_the_role_index_are_listed_by_role_and_counted_once_migrated(services):
    account = services.accounts.create_account("Acme", "owner@acme.test")[0]
    users = [services.users.create(account.id, {"name": f"U{n}", "email": f"u{n}@acme.test",
                                                 "role": "agent" if n < 2 else "end-user"}) for n in range(5)]
    _before("USER#", account.id, "GSI1PK", "GSI1SK")
    _forget_counts(f"ACCOUNT#{account.id}", "COUNT#USERS#")
    unmigrated(migration_state.USER_ROLE_INDEX)
    assert _by_role(services, account.id) == {"end-user": ([], 0), "agent": ([], 0)}
    # Before the migration runs: one old user made an agent (counted from nothing, not taken from
    # the end-users' count it was never in), one renamed, one deleted (taken from no count).
    services.users.update(account.id, users[2].id, {"role": "agent"})
    services.users.update(account.id, users[3].id, {"name": "Renamed"})
    services.users.delete(account.id, users[4].id)
    agents = sorted(u.id for u in users[:3])
    assert _by_role(services, account.id) == {"end-user": ([users[3].id], 1), "agent": ([users[2].id], 1)}
    ran = _migrate(services)
    assert migration_state.USER_ROLE_INDEX in ran["finished"]
    owner = [u.id for u in services.users.list_page(account.id, 1, 100).items if u.id not in {x.id for x in users}]
    expected = {"end-user": (sorted(owner + [users[3].id]), len(owner) + 1), "agent": (agents, 3)}
    assert _by_role(services, account.id) == expected
    unmigrated(migration_state.USER_ROLE_INDEX)  # run again: every user has its keys, none counted twice
    assert _migrate(services)["migrated"] == 0 and _by_role(services, account.id) == expected


def _store(store_class):
    """A store of the product's over its table, as the services have it."""
    from automations.adapters import aws

    return store_class(aws.client("dynamodb"), config.table_name())


def _migrated_between_read_and_write(store_class, check, migrate, item):
    """A ``store_class`` in which the migration (``migrate``, run on a plain store) brings ``item``
    over once, between a write's read of whether it is in the new shape (the store's ``check``)
    and its write: for a service to be given in its constructor. Its ``migrated`` says it did."""
    read = getattr(store_class, check)

    def meanwhile(store, old):
        found = read(store, old)
        if not store.migrated:
            store.migrated = True
            assert migrate(_store(store_class), item)
        return found

    return _store(type("MigratedMeanwhile", (store_class,), {check: meanwhile, "migrated": False}))


def _written_by_the_release_before(item, new_only, changes):
    """The item as the migration read it in the old shape (without ``new_only``), and as the
    release before (still serving during a deploy) rewrote it after that: ``changes``, next version."""
    read = {k: v for k, v in item.items() if k not in new_only}
    written = {**read, **changes, "version": {"N": str(int(read["version"]["N"]) + 1)}}
    _rewrite(item, written)
    return read, written


def test_a_user_written_while_the_migration_indexes_it_is_counted_once(services):
    from automations.adapters.dynamo_people import DynamoUserStore
    from automations.service.people import UserService

    account = services.accounts.create_account("Acme", "owner@acme.test")[0]
    user = services.users.create(account.id, {"name": "Ann", "email": "ann@acme.test", "role": "agent"})
    _before("USER#", account.id, "GSI1PK", "GSI1SK")
    _forget_counts(f"ACCOUNT#{account.id}", "COUNT#USERS#")
    unmigrated(migration_state.USER_ROLE_INDEX)
    [item] = _items(SK=f"USER#{user.id:012d}")
    racing = _migrated_between_read_and_write(DynamoUserStore, "_role_indexed", DynamoUserStore.index_role, item)
    UserService(racing, services.agent_groups).update(account.id, user.id, {"name": "Ann B"})  # refused, then again
    store = _store(DynamoUserStore)
    assert racing.migrated and not store.index_role(item)  # the item it read has changed: nothing counted
    assert _by_role(services, account.id)["agent"] == ([user.id], 1)
    assert services.users.get(account.id, user.id).name == "Ann B"
    [item] = _items(SK=f"USER#{user.id:012d}")
    _forget_counts(f"ACCOUNT#{account.id}", "COUNT#USERS#")
    read, written = _written_by_the_release_before(item, ("GSI1PK", "GSI1SK"), {"role": {"S": "end-user"}})
    assert not store.index_role(read) and store.index_role(written)  # counted as it is now, not as read
    assert _by_role(services, account.id)["end-user"] == ([user.id], 1)


def test_tickets_stored_before_the_tag_counters_are_counted_once_migrated(services):
    account = services.accounts.create_account("Acme", "owner@acme.test")[0]
    tickets = [services.tickets.create(account.id, new_ticket({"subject": f"T{n}", "description": "hi",
                                                               "tags": ["old", f"t{n}"],
                                                               "requester": {"email": "r@example.com"}}))[0]
               for n in range(4)]
    _before("TICKET#", account.id, "tags_counted")
    _forget_counts(f"ACCOUNT#{account.id}#TAGS#")
    unmigrated(migration_state.TICKET_TAG_COUNTS)
    assert services.tickets.tags(account.id) == []
    # Before the migration runs: one old ticket's tags changed (its new tags counted from nothing,
    # none taken from the counts it was never in), one deleted (it takes nothing from them).
    services.tickets.update(account.id, tickets[0].id, ticket_changes({"tags": ["t0", "new"]}))
    services.tickets.delete(account.id, tickets[3].id)
    assert dict(services.tickets.tags(account.id)) == {"t0": 1, "new": 1}
    ran = _migrate(services)
    assert migration_state.TICKET_TAG_COUNTS in ran["finished"] and ran["migrated"] == 2
    expected = {"old": 2, "t0": 1, "new": 1, "t1": 1, "t2": 1}
    assert dict(services.tickets.tags(account.id)) == expected
    [listed] = services.tickets.list_page(account.id, 1, 100).items[:1]
    assert listed.tags == ("t0", "new")  # listed as written
    unmigrated(migration_state.TICKET_TAG_COUNTS)  # run again: every ticket is marked, none counted twice
    assert _migrate(services)["migrated"] == 0 and dict(services.tickets.tags(account.id)) == expected
    services.tickets.restore(account.id, [tickets[3].id])  # a restored one is counted as any restored one
    # a migrated one moves as any other
    services.tickets.update(account.id, tickets[1].id, ticket_changes({"tags": ["t1"]}))
    assert dict(services.tickets.tags(account.id)) == {**expected, "old": 2, "t3": 1}


def test_a_ticket_written_while_the_migration_counts_it_is_counted_once(services):
    from automations.adapters.dynamo_people import DynamoUserStore
    from automations.adapters.dynamo_tickets import DynamoTicketStore
    from automations.service.tickets import TicketService

    account = services.accounts.create_account("Acme", "owner@acme.test")[0]
    ticket = services.tickets.create(account.id, new_ticket({"subject": "T", "description": "hi", "tags": ["a"],
                                                             "requester": {"email": "r@example.com"}}))[0]
    _before("TICKET#", account.id, "tags_counted")
    _forget_counts(f"ACCOUNT#{account.id}#TAGS#")
    unmigrated(migration_state.TICKET_TAG_COUNTS)
    [item] = _items(SK=f"TICKET#{ticket.id:012d}")
    racing = _migrated_between_read_and_write(DynamoTicketStore, "_tags_counted", DynamoTicketStore.count_tags, item)
    tickets = TicketService(racing, _store(DynamoUserStore))
    tickets.update(account.id, ticket.id, ticket_changes({"tags": ["b"]}))  # refused, then again from a fresh read
    store = ticket_store()
    assert racing.migrated and not store.count_tags(item)  # the item it read has changed: nothing counted
    assert dict(services.tickets.tags(account.id)) == {"b": 1}
    ticket = services.tickets.create(account.id, new_ticket({"subject": "U", "description": "hi", "tags": ["c"],
                                                             "requester": {"email": "r@example.com"}}))[0]
    [item] = _items(SK=f"TICKET#{ticket.id:012d}")
    _forget_counts(f"ACCOUNT#{account.id}#TAGS#", "TAG#c")
    read, written = _written_by_the_release_before(
        item, ("tags_counted",), {"data": {"S": item["data"]["S"].replace('"c"', '"d"')}})
    assert not store.count_tags(read) and store.count_tags(written)  # counted as it is now, not as read
    assert dict(services.tickets.tags(account.id)) == {"b": 1, "d": 1}


def test_an_unreadable_old_user_or_ticket_is_left_alone_and_the_migrations_finish(services):
    account = services.accounts.create_account("Acme", "owner@acme.test")[0]
    users = [services.users.create(account.id, {"name": f"U{n}", "role": "agent"}) for n in range(2)]
    tickets = [services.tickets.create(account.id, new_ticket({"subject": f"T{n}", "description": "hi", "tags": ["x"],
                                                               "requester": {"email": "r@example.com"}}))[0]
               for n in range(2)]
    _before("USER#", account.id, "GSI1PK", "GSI1SK")
    _before("TICKET#", account.id, "tags_counted")
    _forget_counts(f"ACCOUNT#{account.id}", "COUNT#USERS#")
    _forget_counts(f"ACCOUNT#{account.id}#TAGS#")
    [user_item] = _items(SK=f"USER#{users[0].id:012d}")
    _rewrite(user_item, {**user_item, "role": {"S": "emperor"}})
    [ticket_item] = _items(SK=f"TICKET#{tickets[0].id:012d}")
    _rewrite(ticket_item, {**ticket_item, "data": {"S": "{nope"}})
    unmigrated(migration_state.USER_ROLE_INDEX, migration_state.TICKET_TAG_COUNTS)
    ran = _migrate(services)
    assert {migration_state.USER_ROLE_INDEX, migration_state.TICKET_TAG_COUNTS} <= set(ran["finished"])
    assert _by_role(services, account.id)["agent"] == ([users[1].id], 1)
    assert dict(services.tickets.tags(account.id)) == {"x": 1}
