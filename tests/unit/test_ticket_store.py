"""DynamoTicketStore and DynamoUserStore against moto: the sparse SweepIndex, paging, optimistic
locking, the ticket count, audits and users."""
import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from automations.adapters.dynamo_people import DynamoUserStore
from automations.adapters.dynamo_tickets import DynamoTicketStore
from automations.domain.ticket import SWEEP_SHARDS
from automations.domain.audit import API, Audit, Via
from automations.domain.ticket import Ticket
from automations.domain.user import Role, User
from automations.store_refusals import StaleWrite

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)
ACCOUNT = "acc_store"


class RecordingClient:
    """The boto3 client, with the name of every call it made."""

    def __init__(self, client):
        self._client = client
        self.calls = []

    def __getattr__(self, name):
        self.calls.append(name)
        return getattr(self._client, name)


@pytest.fixture
def client(aws):
    from automations import config
    from automations.adapters import aws as aws_clients

    return RecordingClient(aws_clients.client("dynamodb")), config.table_name()


@pytest.fixture
def store(client):
    return DynamoTicketStore(*client)


def add(store, account=ACCOUNT, **values):
    ticket = Ticket.create(account, store.allocate_id(account), NOW, **values)
    store.insert(ticket, Audit.of(None, ticket, author_id=1, via=API))
    return ticket


def change(store, old, **values):
    new = old.with_changes(values, old.updated_at + timedelta(minutes=1))
    store.replace(old, new, Audit.of(old, new, author_id=1, via=API))
    return store.get(old.account_id, old.id)


def raw_item(client, ticket):
    db, table = client
    return db.get_item(TableName=table, Key={"PK": {"S": f"ACCOUNT#{ticket.account_id}"},
                                             "SK": {"S": f"TICKET#{ticket.id:012d}"}})["Item"]


class TestSweepIndex:
    def test_open_tickets_carry_the_sharded_keys_and_closed_ones_do_not(self, store, client):
        ticket = add(store)
        item = raw_item(client, ticket)
        assert item["SWEEP_PK"] == {"S": f"ACCOUNT#{ACCOUNT}#SHARD#{ticket.id % SWEEP_SHARDS}"}
        assert item["SWEEP_SK"] == {"S": f"{ticket.id:012d}"}
        closed = change(store, change(store, ticket, status="solved"), status="closed")
        assert "SWEEP_PK" not in raw_item(client, closed) and "SWEEP_SK" not in raw_item(client, closed)
        assert store.sweepable_page(ACCOUNT, ticket.id % SWEEP_SHARDS, 10, None) == ([], None)
        assert store.get(ACCOUNT, ticket.id) == closed  # still readable by id

    def test_a_ticket_created_closed_is_never_indexed(self, store, client):
        assert "SWEEP_PK" not in raw_item(client, add(store, status="closed"))

    def test_sweepable_pages_walk_one_shard_by_query_only(self, store, client):
        tickets = [add(store) for _ in range(5 * SWEEP_SHARDS)]
        change(store, tickets[18], status="closed")  # id 19, shard 3
        for _ in range(4):
            add(store, account="acc_other")  # its ticket 3 is in its own shard 3, another partition
        client[0].calls.clear()
        seen, start, pages = [], None, 0
        while True:
            page, start = store.sweepable_page(ACCOUNT, 3, 2, start)
            seen += [t.id for t in page]
            pages += 1
            if start is None:
                break
            start = json.loads(json.dumps(start))  # the key travels in a queue message
        assert seen == [3, 11, 27, 35] and pages >= 2
        assert set(client[0].calls) == {"query"}

    def test_every_shard_together_is_every_open_ticket(self, store):
        tickets = [add(store) for _ in range(20)]
        found = [t.id for shard in range(SWEEP_SHARDS) for t in store.sweepable_page(ACCOUNT, shard, 100, None)[0]]
        assert sorted(found) == [t.id for t in tickets]


class TestWrites:
    def test_a_full_ticket_survives_the_round_trip(self, store):
        due = NOW + timedelta(days=2)
        ticket = add(store, external_id="ext", subject="S", description="D", status="open", priority="high",
                     type="task", requester_id=1, submitter_id=2, assignee_id=3, group_id=4, organization_id=5,
                     tags=("a", "b"), custom_fields={7: "x", 8: "y"}, custom_status_id=9, brand_id=10,
                     ticket_form_id=11, locale_id=12, via_id=13, recipient="help@acme.test",
                     satisfaction_score="offered", due_at=due, requester_updated_at=NOW,
                     assignee_updated_at=NOW, sla_next_breach_at=due)
        assert store.get(ACCOUNT, ticket.id) == ticket
        assert store.get(ACCOUNT, ticket.id + 1) is None and store.get("acc_nobody", ticket.id) is None

    def test_replace_is_guarded_by_version(self, store):
        ticket = add(store)
        newer = change(store, ticket, priority="low")
        assert newer.version == 2
        stale = ticket.with_changes({"priority": "urgent"}, NOW)
        with pytest.raises(StaleWrite) as error:
            store.replace(ticket, stale, Audit.of(ticket, stale, author_id=1, via=API))
        assert error.value.args == ("ticket",)
        assert store.get(ACCOUNT, ticket.id) == newer

    def test_replace_items_join_a_callers_transaction(self, store, client):
        ticket = add(store)
        new = ticket.with_changes({"status": "open"}, NOW)
        items = store.replace_items(ticket, new, [Audit.of(ticket, new, author_id=None, via=Via.rule(1, "r"))])
        assert [tag for tag, _ in items] == ["ticket", "audit"]
        db, table = client
        marker = {"Put": {"TableName": table, "Item": {"PK": {"S": "MARK"}, "SK": {"S": "1"}}}}
        db.transact_write_items(TransactItems=[item for _, item in items] + [marker])
        assert store.get(ACCOUNT, ticket.id) == replace(new, version=2)
        assert store.list_audits(ACCOUNT, ticket.id)[-1].via.to_dict()["source"]["rel"] == "automation"

    def test_each_audit_of_one_write_is_a_version(self, store, client):
        ticket = add(store)
        opened = ticket.with_changes({"status": "open"}, NOW)
        raised = replace(opened, version=2).with_changes({"priority": "high"}, NOW)
        audits = [Audit.of(ticket, opened, author_id=None, via=Via.rule(1, "a")),
                  Audit.of(replace(opened, version=2), raised, author_id=None, via=Via.rule(2, "b"))]
        client[0].transact_write_items(TransactItems=[i for _, i in store.replace_items(ticket, raised, audits)])
        stored = store.get(ACCOUNT, ticket.id)
        assert stored.version == 3
        change(store, stored, subject="later")
        assert [a.id % 1_000_000 for a in store.list_audits(ACCOUNT, ticket.id)] == [1, 2, 3, 4]

    def test_delete_is_guarded_by_version_and_counted(self, store):
        _, second, _ = add(store), add(store), add(store)
        assert store.count(ACCOUNT) == 3
        with pytest.raises(StaleWrite):
            store.delete(replace(second, version=7))
        store.delete(second)
        assert store.get(ACCOUNT, second.id) is None and store.count(ACCOUNT) == 2
        assert store.count("acc_nobody") == 0

    def test_audits_are_listed_oldest_first(self, store):
        ticket = add(store)
        newer = change(store, ticket, priority="low")
        change(store, newer, priority="high")
        found = store.list_audits(ACCOUNT, ticket.id)
        assert [a.id for a in found] == [ticket.id * 1_000_000 + v for v in (1, 2, 3)]
        assert found[0] == Audit.of(None, ticket, author_id=1, via=API)
        assert store.list_audits(ACCOUNT, 999) == []

    @pytest.mark.parametrize("descending", [False, True])
    def test_a_tickets_audits_a_page_at_a_time_from_any_position(self, store, client, descending):
        """Pages from a position returned before; a position outside every audit's (a client's
        cursor) reads from the start or finds nothing, and never asks DynamoDB to start a Query
        outside its key condition (moto allows it, DynamoDB refuses it)."""
        ticket = add(store)
        for priority in ("low", "normal", "high"):
            ticket = change(store, ticket, priority=priority)
        every = [a.id for a in store.list_audits(ACCOUNT, ticket.id)][::-1 if descending else 1]
        starts = []

        class StartsChecked:
            """The client, asserting that a Query starts inside its key condition."""

            def __getattr__(self, name):
                return getattr(client[0], name)

            def query(self, **kwargs):
                if "ExclusiveStartKey" in kwargs:
                    values = kwargs["ExpressionAttributeValues"]
                    starts.append(kwargs["ExclusiveStartKey"]["SK"]["S"])
                    assert values[":first"]["S"] <= starts[-1] <= values[":last"]["S"]
                return client[0].query(**kwargs)

        store = DynamoTicketStore(StartsChecked(), client[1])
        first, more = store.ticket_audits(ACCOUNT, ticket.id, 3, descending=descending)
        assert [a.id for _, a in first] == every[:3] and more
        rest, more = store.ticket_audits(ACCOUNT, ticket.id, 3, after=first[-1][0], descending=descending)
        assert [a.id for _, a in rest] == every[3:] and not more and starts == [first[-1][0]]
        for outside, before_every in (("A", True), ("AUDIT#", True), ("AUDIT$", False), ("~", False)):
            found, more = store.ticket_audits(ACCOUNT, ticket.id, 10, after=outside, descending=descending)
            from_start = before_every != descending
            assert ([a.id for _, a in found], more) == ((every, False) if from_start else ([], False))
        assert store.ticket_audits(ACCOUNT, 999, 10) == ([], False)


class TestListPage:
    def test_pages_by_id_both_ways(self, store):
        ids = [add(store).id for _ in range(7)]
        page, after = store.list_page(ACCOUNT, 3)
        assert [t.id for t in page] == ids[:3] and after == ids[2]
        page, after = store.list_page(ACCOUNT, 3, after)
        assert [t.id for t in page] == ids[3:6]
        page, after = store.list_page(ACCOUNT, 3, after)
        assert [t.id for t in page] == ids[6:] and after is None
        page, after = store.list_page(ACCOUNT, 2, ids[4], descending=True)
        assert [t.id for t in page] == [ids[3], ids[2]] and after == ids[2]

    def test_offset_skips(self, store):
        ids = [add(store).id for _ in range(5)]
        assert [t.id for t in store.list_page(ACCOUNT, 2, offset=2)[0]] == ids[2:4]
        assert store.list_page(ACCOUNT, 2, offset=5) == ([], None)
        assert store.list_page(ACCOUNT, 2, offset=50) == ([], None)


class TestUsers:
    def test_emails_are_unique_in_an_account(self, client):
        users = DynamoUserStore(*client)
        jane = User(ACCOUNT, users.allocate_id(ACCOUNT), "Jane", "jane@customer.test", Role.END_USER, NOW)
        assert users.add(jane) == jane
        twin = User(ACCOUNT, users.allocate_id(ACCOUNT), "Other Jane", "jane@customer.test", Role.AGENT, NOW)
        assert users.add(twin) == jane
        assert users.find_by_email(ACCOUNT, "jane@customer.test") == jane == users.get(ACCOUNT, jane.id)
        assert users.get(ACCOUNT, twin.id) is None
        assert users.find_by_email("acc_other", "jane@customer.test") is None
        elsewhere = User("acc_other", users.allocate_id("acc_other"), "Jane", "jane@customer.test", Role.END_USER,
                         NOW)
        assert users.add(elsewhere) == elsewhere and elsewhere.id == 1
