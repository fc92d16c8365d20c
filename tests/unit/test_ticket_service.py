"""TicketService rules that the handlers cannot reach, and its behaviour under concurrency."""
from datetime import datetime, timezone

import pytest

from automations.domain.audit import Audit, AuditEvent, Via
from automations.domain.ticket import Ticket
from automations.errors import Conflict, NotFound, ValidationFailed
from automations.surfaces.zendesk_tickets import audit_json, new_ticket, ticket_changes


@pytest.fixture
def account(services):
    return services.accounts.create_account("Acme", "owner@acme.test")[0]


def test_without_an_author_a_requester_is_required(services, account):
    with pytest.raises(ValidationFailed) as error:
        services.tickets.create(account.id, new_ticket({"description": "Nobody asked"}), author_email="")
    assert [(e.field, e.message) for e in error.value.errors] == [("requester", "Requester: cannot be blank")]
    ticket, audit = services.tickets.create(account.id, new_ticket({"description": "Jane asked",
                                                                    "requester": {"email": "jane@customer.test"}}))
    assert ticket.submitter_id == ticket.requester_id and audit.author_id is None


def test_a_missing_requester_is_reported_with_the_ticket_s_other_problems(services, account):
    with pytest.raises(ValidationFailed) as error:
        services.tickets.create(account.id, new_ticket({"description": "Hi", "status": "shut"}))
    assert [e.field for e in error.value.errors] == ["status", "requester"]


def test_a_requester_given_wrong_is_not_also_missing(services, account):
    for given in ({"requester": {"email": "not an email"}}, {"requester_id": "seven"}):
        with pytest.raises(ValidationFailed) as error:
            services.tickets.create(account.id, new_ticket({"description": "Hi", **given}))
        assert [e.field for e in error.value.errors] == [next(iter(given))]


def test_an_unknown_ticket_is_not_found_whatever_the_changes(services, account):
    with pytest.raises(NotFound):
        services.tickets.update(account.id, 404, ticket_changes({"status": "shut", "comment": 7}))
    with pytest.raises(NotFound):
        services.tickets.update(account.id, 404, ticket_changes(["not", "an", "object"]))


def test_the_author_is_one_agent_user(services, account):
    first, audit = services.tickets.create(account.id, new_ticket({"description": "One"}),
                                           author_email="Owner@Acme.test")
    second, _ = services.tickets.create(account.id, new_ticket({"description": "Two"}), author_email="owner@acme.test")
    assert first.requester_id == first.submitter_id == audit.author_id == second.requester_id


class Interfering:
    """A ticket store where another writer changes the ticket just before each of the next
    ``times`` writes, as a concurrent request would."""

    def __init__(self, store, interfere, times):
        self._store, self._interfere, self.times = store, interfere, times

    def __getattr__(self, name):
        return getattr(self._store, name)

    def _race(self):
        if self.times:
            self.times -= 1
            self._interfere()

    def replace(self, old, new, audit, also=()):
        self._race()
        self._store.replace(old, new, audit, also)

    def delete(self, ticket, also=(), **deletion):
        self._race()
        self._store.delete(ticket, also, **deletion)


@pytest.fixture
def racing(services, account):
    """(service whose writes race another writer, the ticket they race on, the race)."""
    from automations import config
    from automations.adapters import aws
    from automations.adapters.dynamo_people import DynamoUserStore
    from automations.adapters.dynamo_tickets import DynamoTicketStore
    from automations.service.tickets import TicketService

    ticket, _ = services.tickets.create(account.id, new_ticket({"description": "Busy"}), author_email="owner@acme.test")
    db, table = aws.client("dynamodb"), config.table_name()
    count = iter(range(100))

    def other_writer():
        change = ticket_changes({"custom_fields": [{"id": 99, "value": f"v{next(count)}"}]})
        services.tickets.update(account.id, ticket.id, change)

    store = Interfering(DynamoTicketStore(db, table), other_writer, 0)
    return TicketService(store, DynamoUserStore(db, table)), ticket, store


def test_a_lost_race_is_retried_from_a_fresh_read(services, account, racing):
    service, ticket, race = racing
    race.times = 1
    change = ticket_changes({"custom_fields": [{"id": 1, "value": "mine"}]})
    updated, audit = service.update(account.id, ticket.id, change)
    assert updated.custom_fields == ((1, "mine"), (99, "v0")) and updated.version == 3
    assert services.tickets.get(account.id, ticket.id) == updated
    assert [e.field_name for e in audit.events] == ["1"]
    assert len(services.tickets.audits(account.id, ticket.id)) == 3


def test_a_ticket_that_keeps_changing_is_a_conflict(services, account, racing):
    service, ticket, race = racing
    race.times = 3
    with pytest.raises(Conflict):
        service.update(account.id, ticket.id, ticket_changes({"subject": "mine"}))
    assert services.tickets.get(account.id, ticket.id).subject == ""


def test_delete_retries_a_lost_race(services, account, racing):
    service, ticket, race = racing
    race.times = 1
    service.delete(account.id, ticket.id)
    assert services.tickets.list_page(account.id, 1, 100).items == []


def test_a_rule_audit_renders_as_zendesk_does():
    when = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)
    old = Ticket.create("acc", 3, when, status="solved", custom_fields={5: "a"})
    new = old.with_changes({"status": "closed", "custom_fields": {}, "due_at": when}, when)
    audit = Audit.of(old, new, author_id=-1, via=Via.rule(8, "Close ticket 4 days after status is set to solved"))
    assert audit.events == (AuditEvent("Change", "status", "closed", "solved"),
                            AuditEvent("Change", "due_at", "2026-11-22T09:00:00Z", None),
                            AuditEvent("Change", "5", None, "a"))
    assert audit_json(audit)["via"] == {"channel": "rule", "source": {
        "from": {"id": 8, "title": "Close ticket 4 days after status is set to solved"}, "to": {},
        "rel": "automation"}}
    assert audit.id == 3_000_002 and audit_json(audit)["created_at"] == "2026-11-22T09:00:00Z"
