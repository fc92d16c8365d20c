"""Creating many tickets at once (Zendesk's create_many jobs): several tickets to a write, each
requester looked up once and the new ones made together, an invalid ticket refused alone, and a
write that lost a race done again ticket by ticket."""
from __future__ import annotations

import pytest

from automations.domain.user import Role
from automations.errors import Busy, DomainError, Duplicate
from automations.surfaces.zendesk_tickets import new_ticket


@pytest.fixture
def account(services):
    return services.accounts.create_account("Acme", "owner@acme.test")[0]


@pytest.fixture
def calls():
    """The DynamoDB operations the product's client makes, by name."""
    from automations.adapters import aws

    made = []
    client = aws.client("dynamodb")
    record = lambda model, **_: made.append(model.name)  # noqa: E731
    client.meta.events.register("before-call.dynamodb", record)
    yield made
    client.meta.events.unregister("before-call.dynamodb", record)


def drafts(services, account, count, *, requesters=3):
    """(ticket object, reserved id, the caller's writes) for ``count`` tickets."""
    ids = services.tickets.reserve_ids(account.id, count)
    return [({"subject": f"T{n}", "comment": {"body": "Hi"},
              "requester": {"email": f"r{n % requesters}@customer.test", "name": "R"}}, ticket_id, ())
            for n, ticket_id in zip(range(count), ids)]


def read(batch):
    """The batch as the Zendesk surface reads it."""
    return [(new_ticket(ticket), ticket_id, also) for ticket, ticket_id, also in batch]


def test_tickets_are_written_several_to_a_transaction_each_requester_looked_up_once(services, account, calls):
    batch = drafts(services, account, 80)
    calls.clear()
    made = services.tickets.create_many(account.id, read(batch), author_email="owner@acme.test")
    assert [t.subject for t in made] == [f"T{n}" for n in range(80)]
    # The author is made; the three requesters, new users, are made together in one write; then
    # the tickets, 49 a write (two items each, and the account's count): two writes for 80.
    assert calls.count("TransactWriteItems") == 1 + 1 + 2
    assert calls.count("GetItem") == 1  # the author's email guard
    assert calls.count("BatchGetItem") == 1  # the requesters' email guards (naming their ids)
    assert calls.count("UpdateItem") == 2  # an id for the author, then ids for the three requesters at once
    assert services.tickets.list_page(account.id, 1, 100).count == 80
    assert len({t.requester_id for t in made}) == 3
    batch = drafts(services, account, 60, requesters=40)
    calls.clear()
    again = services.tickets.create_many(account.id, read(batch), author_email="owner@acme.test")
    # The 37 requesters not seen before: three items each (user, email guard, word) and a count
    # per shard, two writes; then the tickets' two.
    assert len({t.requester_id for t in again}) == 40 and calls.count("TransactWriteItems") == 2 + 2
    assert calls.count("GetItem") == 2  # the author (its guard, then it)
    assert calls.count("BatchGetItem") == 1
    assert calls.count("UpdateItem") == 1  # the 37 ids at once


def test_requesters_made_together_are_users_like_any_other(services, account):
    batch = [({**draft, "requester": {"email": f"new{n}@customer.test", "name": f"New Customer{n}"}}, ticket_id, also)
             for n, (draft, ticket_id, also) in enumerate(drafts(services, account, 45))]
    made = services.tickets.create_many(account.id, read(batch), author_email="owner@acme.test")
    users = services.users
    found = [users.find_by_email(account.id, f"NEW{n}@customer.test") for n in range(45)]
    assert [u.id for u in found] == [t.requester_id for t in made]  # each found by its email guard
    assert {(u.role, u.version, u.name) for u in found[:1]} == {(Role.END_USER, 1, "New Customer0")}
    assert len(users.search(account.id, "name:customer")) == 45  # by the words of their names
    assert users.list_page(account.id, 1, 100, roles=["end-user"]).count == 45  # counted, every shard
    with pytest.raises(Duplicate):  # their emails are claimed
        users.create(account.id, {"name": "Copy", "email": "new7@customer.test"})


def test_a_requester_made_meanwhile_by_another_request_is_that_user(services, account, calls, monkeypatch):
    from automations.adapters.dynamo_people import DynamoUserStore

    looked_up = DynamoUserStore.ids_by_email
    racer = []

    def then_a_racer(store, account_id, emails):  # the racer makes r1 after the lookup missed it
        found = looked_up(store, account_id, emails)
        racer.append(services.users.create(account_id, {"name": "Racer", "email": "r1@customer.test"}))
        return found

    monkeypatch.setattr(DynamoUserStore, "ids_by_email", then_a_racer)
    batch = drafts(services, account, 6)
    calls.clear()
    made = services.tickets.create_many(account.id, read(batch), author_email="owner@acme.test")
    assert [t.requester_id == racer[0].id for t in made] == [False, True, False] * 2
    assert services.users.list_page(account.id, 1, 100).count == 1 + 3  # the author and three requesters
    # The author; the racer; the requesters' write, refused; each again alone (r1 finds the
    # racer's); the tickets.
    assert calls.count("TransactWriteItems") == 1 + 1 + 1 + 3 + 1


def test_an_invalid_ticket_fails_alone(services, account):
    batch = drafts(services, account, 5)
    batch[2] = ({"subject": "no body", "status": "nonsense"}, batch[2][1], ())
    made = services.tickets.create_many(account.id, read(batch), author_email="owner@acme.test")
    assert [type(t).__name__ for t in made] == ["Ticket", "Ticket", "ValidationFailed", "Ticket", "Ticket"]
    assert services.tickets.list_page(account.id, 1, 100).count == 4


def test_a_write_that_lost_a_race_is_done_again_ticket_by_ticket(services, account):
    batch = drafts(services, account, 6)
    taken = batch[4]
    services.tickets.create(account.id, new_ticket(taken[0]), author_email="owner@acme.test", ticket_id=taken[1])  # a racer
    made = services.tickets.create_many(account.id, read(batch), author_email="owner@acme.test")
    assert [isinstance(t, DomainError) for t in made] == [False, False, False, False, True, False]
    assert services.tickets.list_page(account.id, 1, 100).count == 6
    assert sorted(t.id for t in services.tickets.get_many(account.id, [b[1] for b in batch])) == [b[1] for b in batch]


def test_a_throttle_on_a_ticket_done_again_alone_is_raised_not_its_refusal(services, account):
    """The tickets' write lost a race (another request took ticket 4's id), so each is done again
    alone, and the first one's write is throttled (DynamoDB past its retries): the throttle is
    raised for the caller to go on later (a job runs again), never returned as that ticket's
    refusal, which a job would record as the item's failure."""
    from automations.adapters.aws import client
    from support import Refusal, error_answer

    batch = drafts(services, account, 6)
    taken = batch[4]
    services.tickets.create(account.id, new_ticket(taken[0]), author_email="owner@acme.test", ticket_id=taken[1])
    first, second = (f"TICKET#{ticket_id:012d}".encode() for _, ticket_id, _ in batch[:2])
    with Refusal(client("dynamodb"), "TransactWriteItems", error_answer("ProvisionedThroughputExceededException"),
                 when=lambda request: first in request["body"] and second not in request["body"]), \
            pytest.raises(Busy):
        services.tickets.create_many(account.id, read(batch), author_email="owner@acme.test")


def test_a_throttle_on_a_requester_made_again_alone_is_raised_not_its_tickets_refusal(services, account, monkeypatch):
    """The requesters' write lost a race (another request made r1 meanwhile), so each is made
    again alone, and r0's write is throttled: the throttle is raised, never recorded as r0's
    error, which refused r0's tickets."""
    from automations.adapters.aws import client
    from automations.adapters.dynamo_people import DynamoUserStore
    from support import Refusal, error_answer

    looked_up = DynamoUserStore.ids_by_email

    def then_a_racer(store, account_id, emails):
        found = looked_up(store, account_id, emails)
        services.users.create(account_id, {"name": "Racer", "email": "r1@customer.test"})
        return found

    monkeypatch.setattr(DynamoUserStore, "ids_by_email", then_a_racer)
    with Refusal(client("dynamodb"), "TransactWriteItems", error_answer("ProvisionedThroughputExceededException"),
                 when=lambda request: b"r0@customer.test" in request["body"]
                 and b"r2@customer.test" not in request["body"]), pytest.raises(Busy):
        services.tickets.create_many(account.id, read(drafts(services, account, 6)), author_email="owner@acme.test")


def test_tickets_written_together_count_their_tags_once_per_counter(services, account, calls):
    # 80 tickets on the same tags: one write names each tag counter once (a transaction may not
    # name an item twice), moved by the number of its tickets in the write.
    batch = [({**draft, "tags": ["vip", f"batch{n % 2}"]}, ticket_id, also)
             for n, (draft, ticket_id, also) in enumerate(drafts(services, account, 80))]
    calls.clear()
    made = services.tickets.create_many(account.id, read(batch), author_email="owner@acme.test")
    assert all(not isinstance(t, DomainError) for t in made)
    assert calls.count("TransactWriteItems") == 1 + 1 + 2  # still two writes for the tickets
    assert services.tickets.tags(account.id) == [("vip", 80), ("batch0", 40), ("batch1", 40)]
