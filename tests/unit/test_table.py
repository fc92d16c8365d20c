"""The table helper's retry policy (adapters/table.py) under injected throttles and conflicts on
the hot items: a join's group item, an account's ticket count. What botocore does not retry is
retried with backoff; nothing is lost and nothing is written twice; past the retries, Busy."""
import pytest
from support import Refusal, error_answer

from automations import config
from automations.adapters import aws
from automations.adapters.aws import Backoff
from automations.adapters.dynamo_tickets import DynamoTicketStore
from automations.errors import Busy, is_throttle
from automations.surfaces.zendesk_tickets import new_ticket


def _conflict(*codes):
    """A cancelled transaction, each item's reason given (the rest "None")."""
    return error_answer("TransactionCanceledException", CancellationReasons=[{"Code": code} for code in codes])


@pytest.fixture
def account(services):
    return services.accounts.create_account("Acme", "owner@acme.test")[0]


def test_joins_whose_transaction_meets_another_on_the_group_item_are_retried_and_made_once(services, account):
    people = [services.contacts.create(account.id, {"email": f"c{n}@example.com"}) for n in range(3)]
    group = services.contact_lists.create(account.id, "Newsletter")
    with Refusal(aws.client("dynamodb"), "TransactWriteItems", _conflict("TransactionConflict", "None", "None"),
                 times=2, when=lambda request: b"ConditionCheck" in request["body"]) as conflict:
        services.contact_lists.add_members(account.id, group.id, [p.uuid for p in people])
    assert conflict.refused == 2
    members, _ = services.contact_lists.members(account.id, group.id, limit=10)
    assert sorted(m.contact_uuid for m in members) == sorted(p.uuid for p in people)
    joins, _ = services.contact_events.since(account.id)
    assert sorted(e.contact_uuid for e in joins if e.is_join) == sorted(p.uuid for p in people)  # each once


def test_a_ticket_whose_count_update_is_throttled_is_created_once_and_counted_once(services, account):
    with Refusal(aws.client("dynamodb"), "TransactWriteItems", _conflict("None", "None", "ThrottlingError"),
                 times=3) as throttle:
        ticket, _ = services.tickets.create(account.id, new_ticket({"description": "Hi",
                                                                    "requester": {"email": "j@x.test"}}))
    assert throttle.refused == 3
    store = DynamoTicketStore(aws.client("dynamodb"), config.table_name())
    assert store.count(account.id) == 1 and store.get(account.id, ticket.id) is not None


def test_a_conflict_that_lasts_past_the_retries_is_busy_and_a_condition_is_not_retried(services, account):
    pauses = []
    store = DynamoTicketStore(aws.client("dynamodb"), config.table_name(),
                              backoff=Backoff(attempts=4, pause=pauses.append))
    with Refusal(aws.client("dynamodb"), "UpdateItem", error_answer("TransactionConflictException"), times=10), \
            pytest.raises(Busy) as busy:
        store.allocate_id(account.id)
    assert len(pauses) == 3 and all(0 <= p <= 0.025 * 2 ** n for n, p in enumerate(pauses)) and is_throttle(busy.value)
    with Refusal(aws.client("dynamodb"), "TransactWriteItems",
                 _conflict("ConditionalCheckFailed", "TransactionConflict")) as refused, pytest.raises(Exception) as error:
        services.contacts.create(account.id, {"email": "a@example.com"})
    assert refused.refused == 1 and not isinstance(error.value, Busy)  # a failed condition is the caller's to read
