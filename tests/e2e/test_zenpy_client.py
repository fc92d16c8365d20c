"""zenpy, Zendesk's most used Python client, works unchanged against the local runtime."""
import pytest
from zenpy import Zenpy
from zenpy.lib.api_objects import Automation
from zenpy.lib.exception import APIException, RecordNotFoundException
from zenpy_clients import zenpy_for_a_new_account

pytestmark = pytest.mark.e2e

ALL = [{"field": "status", "operator": "is", "value": "pending"},
       {"field": "PENDING", "operator": "greater_than", "value": "48"}]


def rule(title, tag, **kw):
    return Automation(title=title, conditions={"all": ALL, "any": []},
                      actions=[{"field": "current_tags", "value": tag}], **kw)


@pytest.fixture
def zendesk(local_runtime, monkeypatch):
    """A zenpy client for a fresh account, pointed at the local runtime the documented way."""
    return zenpy_for_a_new_account(local_runtime, monkeypatch, "Zenpy Co")[0]


def test_create_show_update_delete(zendesk):
    created = zendesk.automations.create(rule("Nudge pending tickets", "nudged"))
    assert created.id > 1 and created.title == "Nudge pending tickets" and created.active is True
    shown = zendesk.automations(id=created.id)
    assert shown.conditions.to_dict()["all"][1] == {"field": "PENDING", "operator": "greater_than", "value": "48"}

    shown.title = "Nudge pending tickets after two days"
    updated = zendesk.automations.update(shown)
    assert updated.title == "Nudge pending tickets after two days"
    assert [a.to_dict() if hasattr(a, "to_dict") else a for a in zendesk.automations(id=created.id).actions] == \
        [{"field": "current_tags", "value": "nudged"}]

    zendesk.automations.delete(updated)
    with pytest.raises(RecordNotFoundException):
        zendesk.automations(id=created.id)


def test_a_rule_real_zendesk_accepted_is_accepted(zendesk):
    # The request zenpy's project recorded real Zendesk answering 201: a time condition alone.
    created = zendesk.automations.create(Automation(
        title="testAutomation100", conditions={"all": [{"field": "PENDING", "operator": "is", "value": "100"}],
                                               "any": []},
        actions=[{"field": "status", "value": "open"}]))
    assert zendesk.automations(id=created.id).conditions.to_dict() == {
        "all": [{"field": "PENDING", "operator": "is", "value": "100"}], "any": []}


def test_missing_id_raises_record_not_found(zendesk):
    with pytest.raises(RecordNotFoundException):
        zendesk.automations(id=987654)


def test_invalid_rule_raises_api_exception(zendesk):
    with pytest.raises(APIException) as error:
        zendesk.automations.create(Automation(title="", conditions={"all": [], "any": []}, actions=[]))
    assert "RecordInvalid" in str(error.value)


def test_cursor_pagination_across_several_pages(zendesk):
    for batch in range(3):
        zendesk.automations.create([rule(f"Bulk {batch}-{i}", f"bulk_{batch}_{i}") for i in range(35)])
    # zenpy asks for page[size]=100 and follows links.next while meta.has_more
    titles = [a.title for a in zendesk.automations()]
    assert len(titles) == 106 and len(set(titles)) == 106
    assert titles[0] == "Close ticket 4 days after status is set to solved"
    small_pages = [a.id for a in zendesk.automations(cursor_pagination=7)]
    assert small_pages == sorted(small_pages) and len(small_pages) == 106


def test_offset_pagination(zendesk):
    zendesk.automations.create([rule(f"Offset {i}", f"offset_{i}") for i in range(5)])
    listed = zendesk.automations(cursor_pagination=False)
    assert listed.count == 6
    assert [a.title for a in listed][1:] == [f"Offset {i}" for i in range(5)]


def test_bulk_update_and_delete(zendesk):
    created = list(zendesk.automations.create([rule(f"Many {i}", f"many_{i}") for i in range(3)]))
    ids = sorted(a.id for a in created)
    for position, automation in enumerate(created, start=50):
        automation.active = False
        automation.position = position
    zendesk.automations.update(created)  # update_many with id, position, active
    shown = [zendesk.automations(id=i) for i in ids]
    assert all(a.active is False for a in shown) and sorted(a.position for a in shown) == [50, 51, 52]
    zendesk.automations.delete(created)  # destroy_many?ids=
    for i in ids:
        with pytest.raises(RecordNotFoundException):
            zendesk.automations(id=i)


def test_other_accounts_are_invisible(zendesk, local_runtime):
    mine = zendesk.automations.create(rule("Mine", "mine"))
    other = local_runtime.create_account("Someone Else")
    theirs = Zenpy(subdomain="other", email=other["email"], token=other["api_key"], disable_cache=True)
    with pytest.raises(RecordNotFoundException):
        theirs.automations(id=mine.id + 1000)
    assert [a.title for a in theirs.automations()] == ["Close ticket 4 days after status is set to solved"]


def test_bad_token_is_refused(local_runtime, zendesk):
    account = local_runtime.create_account("Locked Out")
    intruder = Zenpy(subdomain="acme", email=account["email"], token="not-the-key", disable_cache=True)
    with pytest.raises(APIException) as error:
        list(intruder.automations())
    assert "Couldn't authenticate you" in str(error.value)
