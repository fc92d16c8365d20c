"""Users and agent groups over real stores (moto): the service rules, membership clean-up, the
delivery lookup, and a sweep whose notifications reach a group's agents and an agent by id."""
from datetime import datetime, timezone

import pytest

from automations import clock
from automations.domain.model import Action, AutomationDraft, Condition, Conditions
from automations.domain.user import Role
from automations.errors import Conflict, Duplicate, NotFound, ValidationFailed
from support import start_sweep
from automations.surfaces.zendesk_tickets import new_ticket

T0 = datetime(2026, 3, 2, 8, 30, tzinfo=timezone.utc)


@pytest.fixture
def account(services):
    acct, _ = services.accounts.create_account("Acme", "owner@acme.test")
    return acct.id


@pytest.fixture
def people(services, account):
    """Three users: two agents and an end-user."""
    users = services.users
    return (users.create(account, {"name": "Alex Agent", "email": "alex@acme.test", "role": "agent"}),
            users.create(account, {"name": "Bea Agent", "email": "BEA@acme.test", "role": "agent"}),
            users.create(account, {"name": "Cy Customer", "email": "cy@example.com", "role": "end-user"}))


def table():
    """The DynamoDB client and table the services use."""
    from automations import config
    from automations.adapters import aws

    return aws.client("dynamodb"), config.table_name()


def group_store():
    """The agent groups' own store, for a test that writes around the service or through a fault."""
    from automations.adapters.dynamo_people import agent_group_store

    return agent_group_store(*table())


def problems(error: ValidationFailed) -> dict[str, str]:
    return {e.field: e.message for e in error.errors}


class TestUsers:
    def test_create_normalises_and_defaults_to_agent(self, services, people):
        alex, bea, cy = people
        assert (alex.id, alex.role, bea.email, cy.role) == (1, Role.AGENT, "bea@acme.test", Role.END_USER)
        assert services.users.get(alex.account_id, bea.id) == bea

    def test_every_problem_at_once(self, services, account):
        with pytest.raises(ValidationFailed) as caught:
            services.users.create(account, {"name": "  ", "email": "not-an-email", "role": "boss"})
        assert set(problems(caught.value)) == {"name", "email", "role"}

    def test_an_email_taken_in_the_account_is_a_conflict(self, services, account, people):
        with pytest.raises(Conflict, match=r"id 1\)"):
            services.users.create(account, {"name": "Alex Again", "email": " ALEX@acme.test ", "role": "agent"})
        other, _ = services.accounts.create_account("Other", "owner@other.test")
        assert services.users.create(other.id, {"name": "Alex", "email": "alex@acme.test", "role": "agent"}).id == 1  # emails are per account

    @pytest.mark.parametrize("field, value", [("email", "alex@acme.test"), ("external_id", "crm-9")])
    def test_a_value_claimed_between_the_check_and_the_write_is_a_duplicate(self, services, account, people,
                                                                            monkeypatch, field, value):
        from automations.adapters.dynamo_people import DynamoUserStore

        services.users.update(account, people[0].id, {"external_id": "crm-9"})
        monkeypatch.setattr(DynamoUserStore, f"find_by_{field}", lambda *_: None)  # the check sees it free
        with pytest.raises(Duplicate) as caught:
            services.users.create(account, {"name": "Late", field: value})
        assert (caught.value.field, caught.value.value) == (field, value)

    def test_a_requester_created_by_a_ticket_is_a_user(self, services, account):
        services.tickets.create(account, new_ticket({"subject": "Help", "description": "x",
                                                     "requester": {"name": "Rita", "email": "rita@example.com"}}))
        rita = services.users.find_by_email(account, "Rita@Example.com")
        assert rita is not None and rita.role is Role.END_USER
        with pytest.raises(Conflict):
            services.users.create(account, {"name": "Rita", "email": "rita@example.com", "role": "agent"})

    def test_pages_in_id_order(self, services, account):
        for n in range(5):
            services.users.create(account, {"name": f"U{n}", "email": f"u{n}@acme.test", "role": "agent"})
        seen, cursor = [], None
        while True:
            page, cursor = services.users.page(account, cursor=cursor, limit=2)
            seen += [u.id for u in page]
            if cursor is None:
                break
        assert seen == [1, 2, 3, 4, 5]

    def test_update_and_unknown_ids(self, services, account, people):
        alex = people[0]
        renamed = services.users.update(account, alex.id, {"name": " Alexandra "})
        assert (renamed.name, renamed.role, renamed.email) == ("Alexandra", Role.AGENT, alex.email)
        assert services.users.update(account, alex.id, {}) == renamed  # nothing to change, nothing written
        with pytest.raises(ValidationFailed):
            services.users.update(account, alex.id, {"name": None, "role": None})
        for missing in (0, 99, 10 ** 12):
            with pytest.raises(NotFound):
                services.users.get(account, missing)

    def test_delete_frees_the_email(self, services, account, people):
        alex = people[0]
        services.users.delete(account, alex.id)
        with pytest.raises(NotFound):
            services.users.delete(account, alex.id)
        assert services.users.find_by_email(account, alex.email) is None
        assert services.users.create(account, {"name": "New Alex", "email": alex.email, "role": "agent"}).id == 4

    def test_get_many_reads_beyond_one_batch(self, services, account):
        from automations import config
        from automations.adapters import aws
        from automations.adapters.dynamo_people import DynamoUserStore

        for n in range(130):
            services.users.create(account, {"name": f"U{n}", "email": f"u{n}@acme.test", "role": "agent"})
        store = DynamoUserStore(aws.client("dynamodb"), config.table_name())
        found = store.get_many(account, [*range(1, 131), 500, 3])
        assert sorted(found) == list(range(1, 131))


class TestGroups:
    def test_create_list_update_delete(self, services, account, people):
        alex, bea, _ = people
        groups = services.agent_groups
        group = groups.create(account, {"name": " Tier 2 ", "user_ids": [bea.id, alex.id, bea.id]})
        assert (group.id, group.name, group.user_ids) == (1, "Tier 2", (alex.id, bea.id))
        assert groups.create(account, {"name": "Empty"}).user_ids == ()
        assert [g.id for g in groups.list(account)] == [1, 2]
        updated = groups.update(account, group.id, {"user_ids": [bea.id]})
        assert (updated.name, updated.user_ids, updated.version) == ("Tier 2", (bea.id,), 2)
        assert groups.update(account, group.id, {"name": "Tier 2"}) == updated  # unchanged: no write
        groups.delete(account, group.id)
        with pytest.raises(NotFound):
            groups.get(account, group.id)

    def test_unknown_ids_and_end_users_are_named(self, services, account, people):
        alex, _, cy = people
        other, _ = services.accounts.create_account("Other", "owner@other.test")
        stranger = services.users.create(other.id, {"name": "Stranger", "email": "s@other.test", "role": "agent"})  # id 1 there: our id 1 is alex
        with pytest.raises(ValidationFailed) as caught:
            services.agent_groups.create(account, {"name": "", "user_ids": [alex.id, cy.id, 98, 99]})
        found = problems(caught.value)
        assert found["name"] == "Name: cannot be blank"
        assert [e.message for e in caught.value.errors if e.field == "user_ids"] == [
            "User ids: no such users: 98, 99", f"User ids: only agents can be group members, not end-users: {cy.id}"]
        with pytest.raises(ValidationFailed, match="no such users: 5"):
            services.agent_groups.create(other.id, {"name": "G", "user_ids": [stranger.id, 5]})
        assert services.agent_groups.list(account) == []  # nothing written, no id spent
        assert services.agent_groups.create(account, {"name": "G"}).id == 1

    @pytest.mark.parametrize("user_ids", [None, "1", [True], [0], [1.5], list(range(1, 1002))])
    def test_malformed_member_lists(self, services, account, people, user_ids):
        with pytest.raises(ValidationFailed) as caught:
            services.agent_groups.create(account, {"name": "G", "user_ids": user_ids})
        assert set(problems(caught.value)) == {"user_ids"}

    def test_deleted_and_demoted_agents_leave_their_groups(self, services, account, people):
        alex, bea, _ = people
        groups = services.agent_groups
        one = groups.create(account, {"name": "One", "user_ids": [alex.id, bea.id]})
        two = groups.create(account, {"name": "Two", "user_ids": [alex.id]})
        services.users.delete(account, alex.id)
        assert groups.get(account, one.id).user_ids == (bea.id,) and groups.get(account, two.id).user_ids == ()
        services.users.update(account, bea.id, {"role": "end-user"})
        assert groups.get(account, one.id).user_ids == ()
        with pytest.raises(ValidationFailed, match="not end-users"):
            groups.update(account, one.id, {"user_ids": [bea.id]})

    def test_a_member_deleted_while_the_group_is_written_is_taken_out(self, services, account, people):
        """The user's clean-up ran between the group's check and its write: the write must not
        bring the member back."""
        from automations.adapters.dynamo_people import DynamoUserStore
        from automations.service.people import AgentGroupService

        alex, bea, _ = people
        store = group_store()

        class InsertAfterAConcurrentDelete:
            def __getattr__(self, name):
                return getattr(store, name)

            def insert(self, group):
                services.users.delete(account, alex.id)
                store.insert(group)

        groups = AgentGroupService(InsertAfterAConcurrentDelete(), DynamoUserStore(*table()))
        created = groups.create(account, {"name": "Race", "user_ids": [alex.id, bea.id]})
        assert created.user_ids == (bea.id,) == groups.get(account, created.id).user_ids

    def test_members_are_the_groups_agents(self, services, account, people):
        alex, bea, cy = people
        groups = services.agent_groups
        group = groups.create(account, {"name": "Tier 2", "user_ids": [alex.id, bea.id]})
        assert groups.members(account, group.id) == [
            {"id": alex.id, "name": "Alex Agent", "email": "alex@acme.test"},
            {"id": bea.id, "name": "Bea Agent", "email": "bea@acme.test"}]
        # whatever a group item says (here: written around the service), only agents are emailed
        from dataclasses import replace

        group_store().replace(group, replace(group, user_ids=(alex.id, cy.id, 77), version=group.version + 1))
        assert [m["id"] for m in groups.members(account, group.id)] == [alex.id]
        assert groups.members(account, 999) == [] and groups.members(account, 0) == []


# -- a sweep that notifies a group and an agent --------------------------------------------------
@pytest.fixture
def sweep_env(aws, services, account, monkeypatch):
    import boto3

    from automations import bootstrap

    previous = clock.get_clock()
    clock.set_clock(clock.MovableClock(T0, frozen=True))
    monkeypatch.setenv("SWEEP_QUEUE_URL", aws.queue_url("SweepQueue"))
    boto3.client("ses").verify_email_identity(EmailAddress="automations@example.com")
    yield bootstrap
    clock.set_clock(previous)


def sent_emails():
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages


def test_sweep_notifications_reach_each_group_member_once_and_an_agent_by_id(sweep_env, services, account, people):
    alex, bea, cy = people
    groups = services.agent_groups
    tier2 = groups.create(account, {"name": "Tier 2", "user_ids": [alex.id, bea.id]})
    empty = groups.create(account, {"name": "Nobody"})
    services.automations.create(account, AutomationDraft(
        title="Escalate", conditions=Conditions(all=(Condition("status", "is", "open"),
                                                     Condition("OPEN", "greater_than", "1"))),
        actions=(Action("notification_group", [str(tier2.id), "Late: {{ticket.title}}", "Ticket {{ticket.id}}"]),
                 Action("notification_group", [str(tier2.id), "Again", "the same group twice: one email each"]),
                 Action("notification_group", [str(empty.id), "Empty", "nobody"]),
                 Action("notification_group", ["999", "Unknown", "nobody"]),
                 Action("notification_user", [str(bea.id), "For Bea", "Hi {{ticket.requester.name}}"]),
                 Action("current_tags", "escalated"))))
    ticket, _ = services.tickets.create(account, new_ticket({"subject": "Printer", "status": "open", "description": "x",
                                                             "requester_id": cy.id}))
    before = len(sent_emails())
    clock.get_clock().advance(2 * 3600)
    sweep_id, tasks = start_sweep(sweep_env)
    worker = sweep_env.services().sweep_worker
    for task in tasks:
        while task is not None:
            task = worker.process(task, lambda: True).rest

    mails = [(m.subject, tuple(m.destinations["ToAddresses"]), m.body) for m in sent_emails()[before:]]
    assert sorted(mails) == sorted([
        ("Late: Printer", ("alex@acme.test",), f"Ticket {ticket.id}"),
        ("Late: Printer", ("bea@acme.test",), f"Ticket {ticket.id}"),
        ("Again", ("alex@acme.test",), "the same group twice: one email each"),
        ("Again", ("bea@acme.test",), "the same group twice: one email each"),
        ("For Bea", ("bea@acme.test",), "Hi Cy Customer"),
    ])
    assert sweep_env.services().sweep_summary(sweep_id)["notifications_sent"] == 5
