"""Contact-side services over DynamoDB (moto): contacts, lists and communities with membership
and join events, custom fields, templates, and contact automations."""
import threading
from datetime import timedelta

import pytest
from races import all_at_once

from automations import clock
from automations.domain.contact_rules import ActionKind, ContactRule, Delay, RuleAction, RuleDraft, Timing
from automations.domain.contacts import GroupKind
from automations.domain.model import Trigger
from automations.errors import Conflict, FieldError, MalformedRequest, NotFound, ValidationFailed


@pytest.fixture
def acct(services):
    account, _ = services.accounts.create_account("Acme", "owner@acme.test", "Europe/Amsterdam")
    return account.id


@pytest.fixture
def other(services):
    account, _ = services.accounts.create_account("Other", "owner@other.test")
    return account.id


def joins_of(services, account_id):
    """The account's join events (the contact event log also has contacts created and changed)."""
    return [e for e in services.contact_events.since(account_id)[0] if e.is_join]


def codes(error: ValidationFailed) -> list[str]:
    return [e.code for e in error.errors]


# -- contacts ------------------------------------------------------------------------------------
class TestContacts:
    def test_create_normalises(self, services, acct):
        c = services.contacts.create(acct, {"email": " Ada@Example.COM ", "phone": "+44 20 7946 0958",
                                            "first_name": " Ada ", "timezone": "Europe/London"})
        assert (c.email, c.phone, c.first_name, c.timezone) == ("ada@example.com", "+442079460958", "Ada",
                                                               "Europe/London")
        assert services.contacts.get(acct, c.uuid) == c
        assert services.contacts.find_by_email(acct, "ADA@example.com") == c
        assert services.contacts.find_by_email(acct, "not an email") is None

    def test_every_problem_is_reported(self, services, acct):
        with pytest.raises(ValidationFailed) as caught:
            services.contacts.create(acct, {"email": "nope", "phone": "12", "timezone": "Nowhere/City"})
        assert {e.field for e in caught.value.errors} == {"email", "phone", "timezone"}

    def test_email_is_unique_per_account(self, services, acct, other):
        first = services.contacts.create(acct, {"email": "a@x.test"})
        with pytest.raises(Conflict):
            services.contacts.create(acct, {"email": "A@X.test"})
        services.contacts.create(other, {"email": "a@x.test"})  # another account may
        second = services.contacts.create(acct, {"email": "b@x.test"})
        with pytest.raises(Conflict):
            services.contacts.update(acct, second.uuid, {"email": "a@x.test"})
        services.contacts.update(acct, first.uuid, {"email": "c@x.test"})  # frees a@x.test
        services.contacts.update(acct, second.uuid, {"email": "a@x.test"})
        services.contacts.delete(acct, second.uuid)  # frees it again
        assert services.contacts.create(acct, {"email": "a@x.test"}).email == "a@x.test"

    def test_partial_update(self, services, acct):
        status = services.custom_fields.create(acct, "Status", "contact", "dropdown", ["Lead", "Customer"])
        score = services.custom_fields.create(acct, "Score", "contact", "number")
        c = services.contacts.create(acct, {"email": "a@x.test", "first_name": "Ann",
                                            "custom_fields": {str(status.id): "Lead", str(score.id): 3}})
        c2 = services.contacts.update(acct, c.uuid, {"last_name": "Lee", "custom_fields": {str(score.id): None}})
        assert (c2.first_name, c2.last_name, c2.custom_fields) == ("Ann", "Lee", {str(status.id): "Lead"})
        assert c2.version == c.version + 1 and c2.updated_at >= c.updated_at and c2.created_at == c.created_at
        assert services.contacts.update(acct, c.uuid, {}) == c2  # nothing changed: nothing written
        with pytest.raises(ValidationFailed, match="needs an email address or a phone number"):
            services.contacts.update(acct, c.uuid, {"email": None})
        c3 = services.contacts.update(acct, c.uuid, {"phone": "+31612345678", "email": None})
        assert c3.email is None and services.contacts.find_by_email(acct, "a@x.test") is None
        with pytest.raises(ValidationFailed) as caught:
            services.contacts.update(acct, c.uuid, {"custom_fields": {str(status.id): "Partner", "999": "x"}})
        assert {e.field for e in caught.value.errors} == {f"custom_fields.{status.id}", "custom_fields.999"}

    def test_values_of_a_deleted_field_stay_and_can_be_cleared(self, services, acct):
        f = services.custom_fields.create(acct, "Nickname", "contact", "text")
        c = services.contacts.create(acct, {"email": "a@x.test", "custom_fields": {str(f.id): "Al"}})
        services.custom_fields.delete(acct, f.id)
        assert services.contacts.update(acct, c.uuid, {"first_name": "Al"}).custom_fields == {str(f.id): "Al"}
        assert services.contacts.update(acct, c.uuid, {"custom_fields": {str(f.id): None}}).custom_fields == {}

    def test_other_scope_fields_hold_no_contact_values(self, services, acct):
        f = services.custom_fields.create(acct, "Industry", "other", "text")
        with pytest.raises(ValidationFailed, match="is not a contact field"):
            services.contacts.create(acct, {"email": "a@x.test", "custom_fields": {str(f.id): "x"}})

    def test_pages(self, services, acct):
        made = {services.contacts.create(acct, {"email": f"c{i}@x.test"}).uuid for i in range(7)}
        seen, cursor = [], None
        for _ in range(4):
            page, cursor = services.contacts.page(acct, cursor=cursor, limit=3)
            seen += [c.uuid for c in page]
            if cursor is None:
                break
        assert seen == sorted(made) and cursor is None
        with pytest.raises(MalformedRequest):
            services.contacts.page(acct, cursor="bm90IGEga2V5")
        with pytest.raises(MalformedRequest):  # a cursor of another listing
            services.contacts.page(acct, cursor=services.contact_events.since(acct)[1] or "WyJHUk9VUCMiXQ")

    def test_a_bulk_import_stores_contacts_as_creating_them_does(self, services, acct):
        """A migration's path: 60 contacts, 25 items a call, each readable, findable by email and
        paged like a created one, its email claimed, and no contact_created event (nothing starts)."""
        import boto3

        from automations import config
        from automations.adapters.dynamo_contacts import DynamoContactStore
        from automations.domain.contacts import Contact

        now = clock.now()
        imported = [Contact(account_id=acct, uuid=f"00000000-0000-4000-8000-{n:012d}", email=f"bulk{n}@x.test",
                            phone=None, first_name="Bulk", last_name=None, timezone=None, custom_fields={},
                            created_at=now, updated_at=now) for n in range(60)]
        DynamoContactStore(boto3.client("dynamodb"), config.table_name()).import_contacts(imported)
        assert [services.contacts.get(acct, c.uuid) for c in imported] == imported
        assert services.contacts.find_by_email(acct, "bulk42@x.test") == imported[42]
        assert [c.uuid for c in services.contacts.page(acct, limit=100)[0]] == [c.uuid for c in imported]
        with pytest.raises(Conflict):  # its email is claimed
            services.contacts.create(acct, {"email": "bulk7@x.test"})
        assert services.contact_events.since(acct)[0] == []

    def test_tenancy(self, services, acct, other):
        c = services.contacts.create(acct, {"email": "a@x.test"})
        for call in (lambda: services.contacts.get(other, c.uuid), lambda: services.contacts.update(other, c.uuid, {}),
                     lambda: services.contacts.delete(other, c.uuid), lambda: services.contacts.get(acct, "x")):
            with pytest.raises(NotFound):
                call()
        assert services.contacts.page(other)[0] == []


# -- lists, communities, membership and events ---------------------------------------------------
class TestGroups:
    def test_crud(self, services, acct, other):
        lists, communities = services.contact_lists, services.communities
        first, second = lists.create(acct, "Newsletter"), lists.create(acct, " VIP ")
        assert (first.id, second.id, second.name) == (1, 2, "VIP")
        assert lists.create(other, "Theirs").id == 1  # ids are per account
        assert lists.update(acct, 1, {"name": "News"}).name == "News"
        with pytest.raises(ValidationFailed):
            lists.update(acct, 1, {"name": " "})
        community = communities.create(acct, "Book club", "party")
        assert (community.id, community.suite_type, community.kind) == (1, "party", GroupKind.COMMUNITY)
        with pytest.raises(ValidationFailed, match="Suite type"):
            communities.create(acct, "x", "club")
        assert communities.update(acct, 1, {"suite_type": "suite"}).suite_type == "suite"
        assert [g.id for g in lists.list(acct)] == [1, 2] and [g.id for g in communities.list(acct)] == [1]
        lists.delete(acct, 2)
        for call in (lambda: lists.get(acct, 2), lambda: lists.get(other, 2), lambda: lists.delete(acct, 2)):
            with pytest.raises(NotFound):
                call()
        assert lists.create(acct, "Again").id == 3  # ids are never reused

    def test_membership_and_join_events(self, services, acct):
        lists = services.contact_lists
        group = lists.create(acct, "Newsletter")
        a, b = (services.contacts.create(acct, {"email": f"{n}@x.test"}).uuid for n in "ab")
        ghost = "00000000-0000-4000-8000-000000000000"
        heard = []
        services.contact_events.subscribe(heard.extend)
        outcome = lists.add_members(acct, group.id, [a, a, ghost, "not-a-uuid", b])
        assert (outcome.added, outcome.already_members) == ([a, b], [])
        assert sorted(outcome.not_found) == sorted([ghost, "not-a-uuid"])
        again = lists.add_members(acct, group.id, [b, a])
        assert (again.added, sorted(again.already_members)) == ([], sorted([a, b]))
        members, _ = lists.members(acct, group.id)
        assert [m.contact_uuid for m in members] == sorted([a, b])
        logged, _ = services.contact_events.since(acct)
        joins = [e for e in logged if e.is_join]  # the log also has the contacts' creation
        assert [e.event.value for e in logged if not e.is_join] == ["contact_created", "contact_created"]
        # one bulk add is one instant: its events are ordered by id
        assert sorted(e.contact_uuid for e in joins) == sorted([a, b]) and joins == sorted(heard, key=lambda e: e.id)
        assert joins[0].to_dict()["event"] == "list_joined" and joins[0].to_dict()["list_id"] == group.id
        lists.remove_member(acct, group.id, a)
        with pytest.raises(NotFound):
            lists.remove_member(acct, group.id, a)
        clock.set_clock(clock.MovableClock(clock.now() + timedelta(seconds=1), frozen=True))
        try:
            assert lists.add_members(acct, group.id, [a]).added == [a]  # rejoining is a new event
        finally:
            clock.set_clock(clock.SystemClock())
        assert len(joins_of(services, acct)) == 3

    def test_community_joins_are_their_own_events(self, services, acct):
        community = services.communities.create(acct, "Club", "community")
        c = services.contacts.create(acct, {"phone": "+31612345678"})
        services.communities.add_members(acct, community.id, [c.uuid])
        (event,) = joins_of(services, acct)
        assert event.to_dict() == {"event": "community_joined", "account_id": acct, "contact_uuid": c.uuid,
                                   "community_id": community.id, "occurred_at": event.to_dict()["occurred_at"],
                                   "id": event.id}

    def test_large_adds_span_transactions(self, services, acct):
        group = services.contact_lists.create(acct, "Big")
        uuids = [services.contacts.create(acct, {"email": f"c{i}@x.test"}).uuid for i in range(70)]
        outcome = services.contact_lists.add_members(acct, group.id, uuids[:40])
        assert len(outcome.added) == 40
        outcome = services.contact_lists.add_members(acct, group.id, uuids)
        assert (len(outcome.added), len(outcome.already_members)) == (30, 40)
        seen, cursor = [], None
        while True:
            page, cursor = services.contact_lists.members(acct, group.id, cursor=cursor, limit=25)
            seen += [m.contact_uuid for m in page]
            if cursor is None:
                break
        assert seen == sorted(uuids)
        events, cursor = services.contact_events.since(acct, limit=50)
        rest, end = services.contact_events.since(acct, cursor=cursor, limit=100)
        assert len(events) == 50 and len(rest) == 90 and end is None  # 70 contacts created, 70 joins
        assert len({e.id for e in events + rest if e.is_join}) == 70
        since, _ = services.contact_events.since(acct, since=rest[0].occurred_at)
        assert since[0] == rest[0] or since[0].occurred_at == rest[0].occurred_at

    def test_bounds_and_missing_groups(self, services, acct, other):
        group = services.contact_lists.create(acct, "L")
        with pytest.raises(MalformedRequest):
            services.contact_lists.add_members(acct, group.id, [f"x{i}" for i in range(1001)])
        c = services.contacts.create(other, {"email": "a@x.test"})
        assert services.contact_lists.add_members(acct, group.id, [c.uuid]).not_found == [c.uuid]  # foreign contact
        for call in (lambda: services.contact_lists.add_members(other, group.id, [c.uuid]),
                     lambda: services.contact_lists.members(acct, 99),
                     lambda: services.communities.add_members(acct, group.id, [c.uuid])):
            with pytest.raises(NotFound):
                call()

    def test_a_deleted_contact_leaves_its_groups(self, services, acct):
        group, community = services.contact_lists.create(acct, "L"), services.communities.create(acct, "C", "suite")
        c = services.contacts.create(acct, {"email": "a@x.test"})
        services.contact_lists.add_members(acct, group.id, [c.uuid])
        services.communities.add_members(acct, community.id, [c.uuid])
        services.contacts.delete(acct, c.uuid)
        assert services.contact_lists.members(acct, group.id)[0] == []
        assert services.communities.members(acct, community.id)[0] == []

    def test_a_failing_listener_does_not_undo_the_join(self, services, acct):
        def broken(events):
            raise RuntimeError("consumer down")

        services.contact_events.subscribe(broken)
        group = services.contact_lists.create(acct, "L")
        c = services.contacts.create(acct, {"email": "a@x.test"})
        assert services.contact_lists.add_members(acct, group.id, [c.uuid]).added == [c.uuid]
        assert len(joins_of(services, acct)) == 1


class Serialized:
    """A DynamoDB client whose calls are atomic, as DynamoDB's are (moto in-process is not
    thread-safe, so concurrent calls would corrupt it rather than race)."""

    _lock = threading.Lock()

    def __init__(self, client) -> None:
        self._client = client

    def __getattr__(self, name):
        attribute = getattr(self._client, name)

        def call(*args, **kwargs):
            with self._lock:
                return attribute(*args, **kwargs)

        return call if callable(attribute) else attribute


def test_concurrent_adds_of_one_contact_make_one_membership_and_one_event(services, acct):
    from automations import config
    from automations.adapters import aws
    from automations.adapters.dynamo_contacts import DynamoContactEventLog, DynamoGroupStore
    from automations.service.contacts import GroupService
    from automations.service.events import ContactEvents

    db, table = Serialized(aws.client("dynamodb")), config.table_name()
    events = ContactEvents(DynamoContactEventLog(db, table))
    lists = GroupService(GroupKind.LIST, DynamoGroupStore(db, table, GroupKind.LIST), events)
    group = lists.create(acct, "Race")
    contact = services.contacts.create(acct, {"email": "racer@x.test"})
    outcomes = all_at_once(lambda: lists.add_members(acct, group.id, [contact.uuid]), 12)
    assert not [o for o in outcomes if isinstance(o, Exception)]
    assert sum(len(o.added) for o in outcomes) == 1 and sum(len(o.already_members) for o in outcomes) == 11
    assert [m.contact_uuid for m in lists.members(acct, group.id)[0]] == [contact.uuid]
    assert len([e for e in events.since(acct)[0] if e.is_join]) == 1


# -- custom fields and templates -----------------------------------------------------------------
class TestCustomFields:
    def test_crud(self, services, acct):
        f = services.custom_fields.create(acct, "Status", "contact", "dropdown", ["Lead"])
        assert services.custom_fields.update(acct, f.id, {"options": ["Lead", "Customer"]}).options == ("Lead", "Customer")
        assert services.custom_fields.update(acct, f.id, {"type": "dropdown", "name": "State"}).name == "State"
        with pytest.raises(ValidationFailed, match="Type: cannot be changed"):
            services.custom_fields.update(acct, f.id, {"type": "text"})
        with pytest.raises(ValidationFailed, match="Scope: cannot be changed"):
            services.custom_fields.update(acct, f.id, {"scope": "other"})
        with pytest.raises(ValidationFailed, match="at least one option"):
            services.custom_fields.update(acct, f.id, {"options": []})
        with pytest.raises(ValidationFailed):
            services.custom_fields.create(acct, "", "contact", "text")
        assert services.custom_fields.create(acct, "Birthday", "contact", "date").id == 2  # refusals burn no id


class TestTemplates:
    def test_email_text_series(self, services, acct, other):
        t = services.templates
        email = t.create(acct, {"title": "Welcome", "type": "email", "subject": "Hi {{ contact.first_name }}",
                                "html": "<p>{% if contact.first_name %}{{ contact.first_name }}{% endif %}</p>"})
        text = t.create(acct, {"title": "SMS", "type": "text", "body": "Hi {{ contact.first_name }}"})
        series = t.create(acct, {"title": "Drip", "type": "series", "steps": [
            {"template_id": email.id}, {"template_id": email.id, "delay_days": 2, "hour": 9, "min": 0, "ampm": "am",
                                        "weekdays_only": True}]})
        assert [s.delay_days for s in series.steps] == [0, 2] and series.steps[1].weekdays_only
        with pytest.raises(ValidationFailed) as caught:
            t.create(acct, {"title": "Drip", "type": "series", "steps": [{"template_id": text.id},
                                                                          {"template_id": 999}]})
        assert [e.field for e in caught.value.errors] == ["steps.0.template_id", "steps.1.template_id"]
        foreign = t.create(other, {"title": "Theirs", "type": "email", "subject": "x", "text": "y"})
        with pytest.raises(ValidationFailed, match="is not an email template of this account"):
            t.create(acct, {"title": "Drip", "type": "series", "steps": [{"template_id": foreign.id + 10}]})
        updated = t.update(acct, email.id, {"text": "plain", "html": None})
        assert (updated.html, updated.text) == (None, "plain")
        with pytest.raises(ValidationFailed, match="Type: cannot be changed"):
            t.update(acct, email.id, {"type": "text"})

    @pytest.mark.parametrize("values, field", [
        ({"subject": "Hi {{ contact.first_name ", "html": "x"}, "subject"),
        ({"subject": "Hi", "html": "{% if x %}unclosed"}, "html"),
        ({"subject": "Hi", "text": "{% nosuchtag %}"}, "text"),
    ])
    def test_invalid_liquid_is_refused_with_the_parsers_message(self, services, acct, values, field):
        from automations.service.rendering import syntax_error

        with pytest.raises(ValidationFailed) as caught:
            services.templates.create(acct, {"title": "T", "type": "email", **values})
        (error,) = caught.value.errors
        assert error.field == field and syntax_error(values[field]) in error.message


# -- contact automations -------------------------------------------------------------------------
class TestContactAutomations:
    @pytest.fixture
    def world(self, services, acct):
        s = services
        return {
            "list": s.contact_lists.create(acct, "L"), "community": s.communities.create(acct, "C", "community"),
            "email": s.templates.create(acct, {"title": "E", "type": "email", "subject": "s", "text": "t"}),
            "text": s.templates.create(acct, {"title": "T", "type": "text", "body": "b"}),
            "checkbox": s.custom_fields.create(acct, "Opted in", "contact", "checkbox"),
            "other": s.custom_fields.create(acct, "Industry", "other", "text"),
            "birthday": s.custom_fields.create(acct, "Birthday", "contact", "date"),
        }

    def test_reference_checks_name_what_is_wrong(self, services, acct, world):
        svc = services.contact_automations
        checks = [
            (lambda: svc.check_source(acct, GroupKind.LIST, 99), "list_not_found"),
            (lambda: svc.check_source(acct, GroupKind.COMMUNITY, world["list"].id + 5), "community_not_found"),
            (lambda: svc.check_field_action(acct, 99, "x"), "custom_field_not_found"),
            (lambda: svc.check_field_action(acct, world["other"].id, "x"), "custom_field_not_contact"),
            (lambda: svc.check_field_action(acct, world["checkbox"].id, "yes"), "checkbox_value"),
            (lambda: svc.check_templates(acct, ActionKind.SEND_EMAIL, [world["text"].id]), "template_not_found"),
            (lambda: svc.check_templates(acct, ActionKind.CANCEL_TEXT, [world["text"].id, 99]), "template_not_found"),
            (lambda: svc.check_date_field(acct, world["checkbox"].id), "custom_field_not_date"),
        ]
        for call, code in checks:
            with pytest.raises(ValidationFailed) as caught:
                call()
            assert codes(caught.value) == [code]
        assert svc.check_field_action(acct, world["checkbox"].id, "true")[1] is True
        assert svc.check_date_field(acct, world["birthday"].id) == world["birthday"]

    def test_a_draft_is_checked_once_part_by_part(self, services, acct, world, monkeypatch):
        svc = services.contact_automations
        sources = []
        check_source = svc.check_source
        monkeypatch.setattr(svc, "check_source", lambda *args: sources.append(args) or check_source(*args))
        unreadable = ValidationFailed([FieldError("base", "the action could not be read")])
        draft = RuleDraft(GroupKind.LIST, 99, unreadable, Trigger.LIST_JOINED, {Trigger.LIST_JOINED: Timing()})
        with pytest.raises(ValidationFailed) as caught:
            svc.create(acct, draft)
        assert codes(caught.value) == ["list_not_found"]  # the part before the unreadable one comes first
        with pytest.raises(ValidationFailed) as caught:
            svc.create(acct, RuleDraft(GroupKind.LIST, world["list"].id, unreadable, Trigger.LIST_JOINED, {}))
        assert caught.value is unreadable
        # No trigger: an update keeps the automation's own, with the timing read for it; a create cannot.
        kept = RuleDraft(GroupKind.LIST, world["list"].id, RuleAction(
            ActionKind.SET_CUSTOM_FIELD, custom_field_id=world["checkbox"].id, value="true"), None, {
            Trigger.LIST_JOINED: Timing(Delay(hours=1)), Trigger.RECURRING: unreadable})
        with pytest.raises(ValidationFailed) as caught:
            svc.create(acct, kept)
        assert codes(caught.value) == ["trigger_required"]
        created = svc.create(acct, ContactRule(Trigger.LIST_JOINED, GroupKind.LIST, world["list"].id,
                                               RuleAction(ActionKind.SEND_EMAIL, template_id=world["email"].id)))
        sources.clear()
        updated = ContactRule.from_automation(svc.update(acct, created.id, kept))
        assert (updated.trigger, updated.delay, updated.action.value) == (Trigger.LIST_JOINED, Delay(hours=1), True)
        assert len(sources) == 1  # references are checked once
        with pytest.raises(NotFound):
            svc.update(acct, created.id + 100, kept)

    def test_create_update_and_what_each_surface_sees(self, services, acct, world):
        svc = services.contact_automations
        rule = ContactRule(trigger=Trigger.LIST_JOINED, source_kind=GroupKind.LIST, source_id=world["list"].id,
                           action=RuleAction(ActionKind.SET_CUSTOM_FIELD, custom_field_id=world["checkbox"].id,
                                             value="false"))
        created = svc.create(acct, rule)
        assert created.actions[0].value == {"custom_field_id": world["checkbox"].id, "value": False}
        assert [a.id for a in svc.list(acct)] == [created.id]
        sweep_rules = services.automations.list(acct, kinds=frozenset({Trigger.SWEEP}))
        assert created.id not in [a.id for a in sweep_rules] and sweep_rules  # Zendesk's list: tickets only
        with pytest.raises(NotFound):
            svc.get(acct, sweep_rules[0].id)  # and contact surfaces don't see ticket rules
        with pytest.raises(ValidationFailed, match="already exists"):
            svc.create(acct, rule)  # an identical active rule would send twice
        moved = ContactRule(trigger=Trigger.COMMUNITY_JOINED, source_kind=GroupKind.COMMUNITY,
                            source_id=world["community"].id, delay=Delay(hours=2),
                            action=RuleAction(ActionKind.SEND_EMAIL, template_id=world["email"].id))
        updated = svc.update(acct, created.id, moved)
        assert (updated.id, updated.trigger, ContactRule.from_automation(updated)) == (
            created.id, Trigger.COMMUNITY_JOINED, moved)
        refs = svc.references(acct, [updated])[updated.id]
        assert refs.group == world["community"] and refs.templates == (world["email"],)
        services.templates.delete(acct, world["email"].id)
        assert svc.references(acct, [updated])[updated.id].templates == (None,)  # dangling: shown as missing
        with pytest.raises(NotFound):
            svc.save(acct, moved, sweep_rules[0].id)
        with pytest.raises(ValidationFailed):
            svc.create(acct, moved)  # the template is gone
