import pytest
from races import all_at_once

from automations.domain.model import Action, AutomationChanges, AutomationDraft, Condition, Conditions
from automations.errors import NotFound, ValidationFailed

ANCHORED = (Condition("status", "is", "open"), Condition("OPEN", "greater_than", "24"))


def draft(i, **kw):
    return AutomationDraft(title=f"rule {i}", conditions=Conditions(all=ANCHORED),
                           actions=(Action("current_tags", f"tag{i}"),), **kw)


@pytest.fixture
def account(services):
    return services.accounts.create_account("Acme", "owner@acme.test")[0]


def test_the_active_limit_is_zendesks_500():
    from automations.domain import ticket_rules

    assert ticket_rules.MAX_ACTIVE_AUTOMATIONS == 500


def test_at_most_max_active_automations(services, account, monkeypatch):
    from automations.domain import ticket_rules

    monkeypatch.setattr(ticket_rules, "MAX_ACTIVE_AUTOMATIONS", 6)  # the same counter guards 500
    services.automations.create_many(account.id, [draft(i) for i in range(5)])  # plus the default rule
    with pytest.raises(ValidationFailed) as e:
        services.automations.create(account.id, draft(1000))
    assert "limit of 6 active automations" in e.value.errors[0].message
    inactive = services.automations.create(account.id, draft(1001, active=False))
    with pytest.raises(ValidationFailed):
        services.automations.update(account.id, inactive.id, AutomationChanges(active=True))
    services.automations.update(account.id, 2, AutomationChanges(active=False))
    assert services.automations.update(account.id, inactive.id, AutomationChanges(active=True)).active
    services.automations.delete(account.id, 3)
    assert services.automations.create(account.id, draft(1002)).active  # deleting frees a slot too


def test_concurrent_identical_creates_leave_exactly_one_active(services, account):
    outcomes = all_at_once(lambda: services.automations.create(account.id, draft(7)), 8)
    assert sum(not isinstance(o, ValidationFailed) for o in outcomes) == 1
    assert len(services.automations.list(account.id, active=True)) == 2


def test_deleting_an_active_rule_frees_its_slot_and_fingerprint(services, account):
    a = services.automations.create(account.id, draft(1))
    services.automations.delete(account.id, a.id)
    with pytest.raises(NotFound):
        services.automations.get(account.id, a.id)
    again = services.automations.create(account.id, draft(1))
    assert again.id != a.id


MOVED_CONDITIONS = Conditions(all=(Condition("status", "is", "open"), Condition("OPEN", "greater_than", "48")))


@pytest.mark.parametrize("changes", [AutomationChanges(conditions=MOVED_CONDITIONS),
                                     AutomationChanges(actions=(Action("current_tags", "moved"),))],
                         ids=["conditions", "actions"])
def test_changing_conditions_or_actions_moves_the_fingerprint(services, account, changes):
    a = services.automations.update(account.id, services.automations.create(account.id, draft(1)).id, changes)
    services.automations.create(account.id, draft(1))  # the old shape is free again
    with pytest.raises(ValidationFailed) as e:  # and the new shape is taken
        services.automations.create(account.id, AutomationDraft(title="copy", conditions=a.conditions,
                                                                actions=a.actions))
    assert e.value.errors[0].message.endswith(f"already exists (id {a.id})")


def test_timestamps_come_from_the_clock(services, account):
    from datetime import datetime, timezone

    from automations import clock

    fixed = clock.MovableClock(datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc), frozen=True)
    previous = clock.get_clock()
    clock.set_clock(fixed)
    try:
        a = services.automations.create(account.id, draft(1))
        assert a.created_at == datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
        fixed.advance(60)
        b = services.automations.update(account.id, a.id, AutomationChanges(title="renamed"))
        assert (b.updated_at - b.created_at).total_seconds() == 60
        c = services.automations.update(account.id, a.id, AutomationChanges(title="renamed"))
        assert c.updated_at == b.updated_at  # nothing changed, nothing to date
    finally:
        clock.set_clock(previous)
