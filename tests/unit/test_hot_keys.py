"""Hot keys left by the first sharding (issue 22, part 2): an event or a join reads only the
automations it starts (a trigger index), not every automation of the account; the account's
tickets by last change and its audits (GSI2) are spread over shards, and the incremental export
and the audit list read them merged, in the same order as from one partition."""
from datetime import timedelta

import pytest
from support import ticket_store, unmigrated

from automations import clock, config
from automations.adapters import aws, migration_state
from automations.adapters.shards import TICKET_INDEX_SHARDS
from automations.clock import sortable
from automations.domain import event_rules
from automations.domain.contact_rules import ActionKind, ContactRule, Delay, RuleAction
from automations.domain.contacts import GroupKind
from automations.domain.model import Action, AutomationChanges, AutomationDraft, Conditions, SubjectKind, Trigger
from automations.surfaces.zendesk_tickets import new_ticket, ticket_changes


@pytest.fixture
def account(services):
    return services.accounts.create_account("Acme", "owner@acme.test")[0]


def _queries(client):
    """The Query requests ``client`` makes while the list is alive."""
    seen = []
    client.meta.events.register("provide-client-params.dynamodb.Query", lambda params, **_: seen.append(params))
    return seen


def _event_rule(services, account, event, title):
    return services.automations.create(account.id, AutomationDraft(
        title=title, subject=SubjectKind.CONTACT, trigger=Trigger.EVENT, conditions=Conditions(),
        trigger_config=event_rules.trigger_config(event, Delay(0, 1, 0), None),
        actions=(Action("webhook", {"webhook_id": "wh_x", "body": title}),)))


def test_an_event_or_a_join_reads_only_the_automations_it_starts(services, account):
    placed = [_event_rule(services, account, "shop.order_placed", f"Placed {n}") for n in range(2)]
    _event_rule(services, account, "shop.order_refunded", "Refunded")
    off = _event_rule(services, account, "shop.order_placed", "Off")
    services.automations.update(account.id, off.id, AutomationChanges(active=False))  # leaves the index
    lists = [services.contact_lists.create(account.id, name) for name in ("A", "B")]
    mail = services.templates.create(account.id, {"type": "email", "title": "Hi", "subject": "Hi", "text": "Hi"})
    joined = services.contact_automations.create(account.id, ContactRule(
        trigger=Trigger.LIST_JOINED, source_kind=GroupKind.LIST, source_id=lists[0].id,
        action=RuleAction(ActionKind.SEND_EMAIL, template_id=mail.id), delay=Delay(0, 1, 0)))
    ann = services.contacts.create(account.id, {"email": "ann@example.com"})
    queries = _queries(aws.client("dynamodb"))
    started = services.run_launcher.on_event(account.id, "shop.order_placed", ann.uuid, data=None, event_id="e1")
    assert sorted(r.automation_id for r in started.runs) == [a.id for a in placed]
    services.contact_lists.add_members(account.id, lists[1].id, [ann.uuid])  # no automation on list B
    services.contact_lists.add_members(account.id, lists[0].id, [ann.uuid])
    joins, _ = services.contact_events.since(account.id)
    made = services.run_launcher.on_contact_events([e for e in joins if e.is_join]).runs
    assert [r.automation_id for r in made] == [joined.id]
    automation_reads = [q for q in queries if "AUTOMATION" in str(q.get("ExpressionAttributeValues"))]
    assert automation_reads and all(q.get("IndexName") == "GSI2" for q in automation_reads)  # never every automation
    assert {q["ExpressionAttributeValues"][":pk"]["S"].split("#AUTOMATIONS#")[1] for q in automation_reads} == {
        "event#shop.order_placed", f"list_joined#{lists[0].id}", f"list_joined#{lists[1].id}"}


def test_until_the_index_is_built_every_automation_is_read_and_the_answer_is_the_same(services, account):
    unmigrated(migration_state.AUTOMATION_TRIGGERS)
    placed = _event_rule(services, account, "shop.order_placed", "Placed")
    _event_rule(services, account, "shop.order_refunded", "Refunded")
    ann = services.contacts.create(account.id, {"email": "ann@example.com"})
    queries = _queries(aws.client("dynamodb"))
    started = services.run_launcher.on_event(account.id, "shop.order_placed", ann.uuid, data=None, event_id="e1")
    assert [r.automation_id for r in started.runs] == [placed.id]
    assert not any(q.get("IndexName") == "GSI2" and "AUTOMATIONS" in str(q) for q in queries)


def test_ticket_changes_and_audits_spread_over_shards_and_list_as_from_one_partition(services, account):
    """The incremental export and the account's audits, read a few at a time over every shard,
    come in the order one partition gave: by change time then id, and newest audit first."""
    tickets = []
    for n in range(12):
        tickets.append(services.tickets.create(account.id, new_ticket({"subject": f"T{n}", "description": "hi",
                                                                       "requester": {"email": "r@example.com"}}))[0])
    for ticket in tickets[::3]:  # some change again, later
        services.tickets.update(account.id, ticket.id, ticket_changes({"status": "pending"}))
    items = aws.client("dynamodb").scan(TableName=config.table_name())["Items"]
    partitions = {i["GSI2PK"]["S"] for i in items if "GSI2PK" in i and "#TICKET_UPDATES#" in i["GSI2PK"]["S"]}
    assert 2 <= len(partitions) <= TICKET_INDEX_SHARDS
    assert len({i["GSI2PK"]["S"] for i in items if "GSI2PK" in i and "#AUDITS#" in i["GSI2PK"]["S"]}) >= 2
    store = ticket_store()
    exported, position, inclusive = [], sortable(clock.now() - timedelta(days=1)), True
    while True:
        page, more = store.updated_since(account.id, position, 5, inclusive=inclusive, max_bytes=1 << 20)
        exported += page
        if not more:
            break
        position, inclusive = page[-1][0], False
    expected = sorted((sortable(t.updated_at) + f"#{t.id:012d}", t.id) for t in
                      (services.tickets.get(account.id, t.id) for t in tickets))
    assert [(p, t.id) for p, t in exported] == expected
    audits, before = [], None
    while True:
        page, more = store.account_audits(account.id, 4, before=before)
        audits += page
        if not more:
            break
        before = page[-1][0]
    positions = [p for p, _ in audits]
    assert positions == sorted(positions, reverse=True) and len(audits) == 12 + 4
    newer, _ = store.account_audits(account.id, 3, after=positions[5])
    assert [p for p, _ in newer] == positions[2:5]  # the three just newer, still newest first
