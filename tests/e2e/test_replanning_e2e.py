"""Issue 27's two cases over the local runtime, from outside: a waiting run follows its contact's
new zone and its rule's new window (due_at, the dry run, and when the mail goes)."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from test_run_engine_e2e import NY, Shop, _instant

pytestmark = pytest.mark.e2e

TOKYO = ZoneInfo("Asia/Tokyo")
MONDAY_EVENING = datetime(2026, 11, 2, 20, 0, tzinfo=NY)  # EST (UTC-5)


@pytest.fixture
def shop(local_runtime, clock):
    return Shop(local_runtime, clock)


def rule(shop, list_id, template_id, window, delay_days=0):
    return shop.make("/v1/automations", {
        "title": "Welcome", "trigger": "list_joined",
        "trigger_config": {"source": {"kind": "list", "id": list_id}, "delay": {"days": delay_days},
                           "window": {"from": window[0], "to": window[1]}},
        "actions": [{"kind": "send_email", "template_id": template_id}]})


def due_at(shop, contact_uuid):
    [run] = shop.runs(contact_uuid=contact_uuid)
    return _instant(run["due_at"])


def re_planned(shop, contact_uuid, before):
    """The run's new due time: the re-plan is made off the request path (the ingestion or the
    expand queue), which ticks drain."""
    for _ in range(20):
        if due_at(shop, contact_uuid) != before:
            break
        shop.tick()
    return due_at(shop, contact_uuid)


def test_a_contact_who_moves_from_new_york_to_tokyo_gets_the_mail_inside_the_window_in_tokyo(shop):
    shop.at(MONDAY_EVENING)
    newsletter = shop.make("/v1/contact-lists", {"name": "Newsletter"})["id"]
    automation = rule(shop, newsletter, shop.email_template(), ("09:00", "17:00"), delay_days=1)
    ann = shop.contact("ann@example.com", timezone="America/New_York")
    joined_from = shop.clock.now()
    shop.join(newsletter, ann)
    joined_by = shop.clock.now()
    planned = due_at(shop, ann)
    assert planned == datetime(2026, 11, 4, 9, 0, tzinfo=NY)  # Wednesday 09:00 New York: 23:00 in Tokyo

    shop.at(MONDAY_EVENING + timedelta(hours=2))
    shop.call("PATCH", f"/v1/contacts/{ann}", json={"timezone": "Asia/Tokyo"})
    # In Tokyo the day's delay ends on Wednesday at 10:00, inside the window: the mail goes then.
    due = re_planned(shop, ann, planned)
    assert joined_from + timedelta(days=1) <= due <= joined_by + timedelta(days=1, seconds=1)
    assert due.astimezone(TOKYO).strftime("%a %H") == "Wed 10"
    dry = shop.call("POST", f"/v1/automations/{automation['id']}/test", json={"contact_uuid": ann})
    assert _instant(dry["due_at"]).astimezone(TOKYO).strftime("%a %H") == "Wed 12"  # now + a day, in Tokyo

    assert shop.at(due - timedelta(minutes=1)) == [] and shop.emails_to("ann@example.com") == []
    shop.at(due + timedelta(seconds=5))
    [sent] = shop.sent_at("ann@example.com")
    assert due <= sent and 9 <= sent.astimezone(TOKYO).hour < 17
    shop.at(datetime(2026, 11, 5, 12, 0, tzinfo=NY))  # the old time (and a day more) passes: nothing more
    assert len(shop.emails_to("ann@example.com")) == 1


def test_a_window_changed_from_9_17_to_13_15_holds_the_waiting_mail_until_13(shop):
    shop.at(MONDAY_EVENING)
    newsletter = shop.make("/v1/contact-lists", {"name": "Newsletter"})["id"]
    automation = rule(shop, newsletter, shop.email_template(), ("09:00", "17:00"))
    bob = shop.contact("bob@example.com")  # no zone: the account's (New York)
    shop.join(newsletter, bob)
    assert due_at(shop, bob) == datetime(2026, 11, 3, 9, 0, tzinfo=NY)

    shop.at(MONDAY_EVENING + timedelta(hours=1))
    shop.call("PATCH", f"/v1/automations/{automation['id']}", json={"trigger_config": {
        "source": {"kind": "list", "id": newsletter}, "window": {"from": "13:00", "to": "15:00"}}})
    assert re_planned(shop, bob, datetime(2026, 11, 3, 9, 0, tzinfo=NY)) == datetime(2026, 11, 3, 13, 0, tzinfo=NY)
    assert shop.at(datetime(2026, 11, 3, 9, 0, 5, tzinfo=NY)) == [] and shop.emails_to("bob@example.com") == []
    shop.at(datetime(2026, 11, 3, 13, 0, 5, tzinfo=NY))
    [sent] = shop.sent_at("bob@example.com")
    assert datetime(2026, 11, 3, 13, 0, tzinfo=NY) <= sent < datetime(2026, 11, 3, 15, 0, tzinfo=NY)
