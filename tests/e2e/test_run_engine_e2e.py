"""The run engine end to end over the local runtime: contact automations defined through the
VipeCloud surface, contacts and lists through /v1, time moved with /_local/clock and schedules
fired with /_local/scheduler/tick; what was sent is read from /_local/outbox."""
from __future__ import annotations

import base64
import threading
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import boto3
import pytest

pytestmark = pytest.mark.e2e

NY = ZoneInfo("America/New_York")


class Shop:
    def __init__(self, local_runtime, clock, timezone="America/New_York"):
        self.stack, self.clock = local_runtime, clock
        account = local_runtime.create_account("Run Engine Co", timezone=timezone)
        credentials = base64.b64encode(f"{account['email']}:{account['api_key']}".encode()).decode()
        self.account_id, self.headers = account["account_id"], {"Authorization": f"Basic {credentials}"}
        self.make = local_runtime.as_account(self.headers).make

    def call(self, method, path, expected=200, **kwargs):
        response = self.stack.request(method, path, headers=self.headers, **kwargs)
        assert response.status_code == expected, response.text
        return response.json() if response.content else None

    def automation(self, **body):
        return self.call("POST", "/automations", json={"trigger_type": "contact", "delay_days": 0, "delay_hours": 0,
                                                        "delay_min": 0, **body})

    def email_template(self, title="Welcome"):
        return self.make("/v1/templates", {"title": title, "type": "email", "subject": f"{title} {{{{ contact.first_name }}}}",
                                           "text": "Hello {{ contact.first_name }}"})["id"]

    def contact(self, email, **values):
        return self.make("/v1/contacts", {"email": email, "first_name": email.split("@")[0].title(), **values})["uuid"]

    def join(self, list_id, *uuids):
        """Contacts join; the tick drains the ingestion queue, where the joins become runs."""
        self.call("POST", f"/v1/contact-lists/{list_id}/members", json={"contact_uuids": list(uuids)})
        self.tick()

    def tick(self):
        """Fire what is due; the names of the run schedules fired (the hourly sweep may fire too)."""
        answer = self.stack.request("POST", "/_local/scheduler/tick")
        assert answer.status_code == 200, answer.text
        return [f["schedule"] for f in answer.json()["fired"] if f["schedule"].startswith("run_")]

    def at(self, when):
        self.clock.set(when)
        return self.tick()

    def emails_to(self, address):
        outbox = self.call("GET", f"/_local/outbox?channel=email&account_id={self.account_id}")["deliveries"]
        return [d for d in outbox if d["recipient"] == address and d["status"] in ("sent", "unconfirmed")]

    def runs(self, **query):
        return self.call("GET", "/v1/runs", params={"limit": 100, **query})["runs"]

    def sent_at(self, address):
        """When each email to ``address`` was sent, oldest first."""
        return sorted(_instant(m["created_at"]) for m in self.emails_to(address))


def _instant(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def shop(local_runtime, clock):
    return Shop(local_runtime, clock)


def test_a_delayed_windowed_email_goes_once_at_the_right_instant_across_dst(shop):
    shop.at(datetime(2026, 10, 31, 8, 0, tzinfo=NY))  # Saturday; the clocks fall back on Sunday
    newsletter = shop.make("/v1/contact-lists", {"name": "Newsletter"})["id"]
    shop.automation(contact_list_id=newsletter, template_type="email", template_id=shop.email_template(),
                    delay_days=2, delay_hours=3, contact_trigger_hours=1,
                    contact_trigger_from_hour=9, contact_trigger_from_min=0, contact_trigger_from_ampm="am",
                    contact_trigger_to_hour=5, contact_trigger_to_min=0, contact_trigger_to_ampm="pm")
    ann = shop.contact("ann@example.com")
    joined_from = shop.clock.now()
    shop.join(newsletter, ann)  # the local clock runs on while the test talks to it
    joined_by = shop.clock.now()  # (to the second)
    [run] = shop.runs(contact_uuid=ann)
    due = datetime.fromisoformat(run["due_at"])  # 51 elapsed hours later: Monday 10:00 EST, inside 09:00-17:00
    assert run["status"] == "scheduled" and joined_from + timedelta(hours=51) <= due <= joined_by + timedelta(hours=51, seconds=1)
    assert due.astimezone(NY).strftime("%a %H") == "Mon 10"

    assert shop.at(due - timedelta(minutes=1)) == [] and shop.emails_to("ann@example.com") == []
    fired = shop.at(due + timedelta(seconds=5))
    assert fired == [run["id"]]
    [mail] = shop.emails_to("ann@example.com")
    assert mail["subject"] == "Welcome Ann" and mail["body"] == "Hello Ann" and mail["provider_id"]
    assert shop.at(due + timedelta(days=1)) == [] and len(shop.emails_to("ann@example.com")) == 1
    assert shop.runs(contact_uuid=ann)[0]["status"] == "succeeded"


def test_a_cancel_automation_stops_the_scheduled_email(shop):
    shop.at(datetime(2026, 6, 1, 12, 0, tzinfo=NY))
    trial, buyers = (shop.make("/v1/contact-lists", {"name": n})["id"] for n in ("Trial", "Buyers"))
    nudge = shop.email_template("Nudge")
    shop.automation(contact_list_id=trial, template_type="email", template_id=nudge, delay_days=3)
    shop.automation(contact_list_id=buyers, template_type="cancel_email", template_ids=[nudge])
    bob = shop.contact("bob@example.com")
    shop.join(trial, bob)
    shop.join(buyers, bob)
    shop.tick()  # the cancel automation's run (due at once) runs from the queue
    statuses = sorted(r["status"] for r in shop.runs(contact_uuid=bob))
    assert statuses == ["cancelled", "succeeded"]
    shop.at(datetime(2026, 6, 5, 12, 0, tzinfo=NY))
    assert shop.emails_to("bob@example.com") == []


def test_a_three_step_series_sends_three_emails_on_the_right_days(shop):
    shop.at(datetime(2026, 6, 5, 16, 0, tzinfo=NY))  # a Friday
    steps = [shop.email_template(f"Step {n}") for n in (1, 2, 3)]
    series = shop.make("/v1/templates", {"title": "Onboarding", "type": "series", "steps": [
        {"template_id": steps[0], "delay_days": 0},
        {"template_id": steps[1], "delay_days": 1, "weekdays_only": True},  # Saturday -> Monday 10:00
        {"template_id": steps[2], "delay_days": 2, "hour": 8, "min": 30, "ampm": "am"}]})["id"]
    onboarding = shop.make("/v1/contact-lists", {"name": "Onboarding"})["id"]
    shop.automation(contact_list_id=onboarding, template_type="series", template_id=series)
    cleo = shop.contact("cleo@example.com")
    shop.join(onboarding, cleo)
    shop.tick()
    shop.tick()
    sent = lambda: sorted(m["subject"] for m in shop.emails_to("cleo@example.com"))  # noqa: E731
    assert sent() == ["Step 1 Cleo"]
    shop.at(datetime(2026, 6, 8, 9, 59, tzinfo=NY))
    assert sent() == ["Step 1 Cleo"]
    shop.at(datetime(2026, 6, 8, 10, 0, tzinfo=NY))
    assert sent() == ["Step 1 Cleo", "Step 2 Cleo"]
    shop.at(datetime(2026, 6, 10, 8, 30, tzinfo=NY))
    assert sent() == ["Step 1 Cleo", "Step 2 Cleo", "Step 3 Cleo"]


def test_a_weekly_recurring_rule_fires_on_its_weekday_only(shop):
    shop.at(datetime(2026, 6, 1, 7, 0, tzinfo=NY))  # a Monday
    weekly = shop.make("/v1/contact-lists", {"name": "Weekly"})["id"]
    shop.automation(contact_list_id=weekly, template_type="email", template_id=shop.email_template("Weekly"),
                    trigger_type="recurring", day="wednesday", hour=9, min=0, ampm="am")
    dana = shop.contact("dana@example.com")
    shop.join(weekly, dana)
    for day in (2, 3, 4):  # Tuesday, Wednesday, Thursday
        shop.at(datetime(2026, 6, day, 9, 1, tzinfo=NY))
    [mail] = shop.emails_to("dana@example.com")
    assert datetime.fromisoformat(mail["created_at"].replace("Z", "+00:00")).astimezone(NY).date().isoformat() \
        == "2026-06-03"


def test_a_daily_weekday_only_rule_skips_the_weekend(shop):
    shop.at(datetime(2026, 6, 5, 7, 0, tzinfo=NY))  # a Friday
    daily = shop.make("/v1/contact-lists", {"name": "Daily"})["id"]
    shop.automation(contact_list_id=daily, template_type="email", template_id=shop.email_template("Daily"),
                    trigger_type="recurring", day="daily", hour=8, min=0, ampm="am", weekday_only="on")
    eve = shop.contact("eve@example.com")
    shop.join(daily, eve)
    for day in (5, 6, 7, 8):  # Friday, Saturday, Sunday, Monday
        shop.at(datetime(2026, 6, day, 8, 1, tzinfo=NY))
    days = sorted(datetime.fromisoformat(m["created_at"].replace("Z", "+00:00")).astimezone(NY).day
                  for m in shop.emails_to("eve@example.com"))
    assert days == [5, 8]


def test_a_birthday_rule_fires_once_a_year(shop):
    shop.at(datetime(2027, 3, 3, 12, 0, tzinfo=NY))
    birthday = shop.make("/v1/custom-fields", {"name": "Birthday", "scope": "contact", "type": "date"})["id"]
    members = shop.make("/v1/contact-lists", {"name": "Members"})["id"]
    shop.automation(contact_list_id=members, template_type="email", template_id=shop.email_template("Happy"),
                    trigger_type="custom_field", custom_field_id=birthday, hour=9, min=0, ampm="am")
    fay = shop.contact("fay@example.com", custom_fields={str(birthday): "1990-03-05"})
    shop.join(members, fay)
    for day in (4, 5, 6):
        shop.at(datetime(2027, 3, day, 0, 1, tzinfo=NY))  # the daily expansion plans the next 25 hours
    shop.at(datetime(2027, 3, 6, 9, 1, tzinfo=NY))
    [mail] = shop.emails_to("fay@example.com")
    assert mail["subject"] == "Happy Fay"
    assert [r["occurrence"] for r in shop.runs(contact_uuid=fay)] == ["date:2027-03-05"]


def test_duplicate_deliveries_and_a_racing_cancel_send_nothing_twice(shop, local_runtime):
    shop.at(datetime(2026, 7, 1, 12, 0, tzinfo=NY))
    club = shop.make("/v1/contact-lists", {"name": "Club"})["id"]
    shop.automation(contact_list_id=club, template_type="email", template_id=shop.email_template("Club"), delay_hours=1)
    people = [shop.contact(f"p{n}@example.com") for n in range(4)]
    shop.join(club, *people)
    runs = {r["subject"]["id"]: r["id"] for r in shop.runs(automation_id=None) if r["subject"]["id"] in people}
    # The same run delivered again and again (Scheduler and SQS deliver at least once).
    sqs = boto3.client("sqs", endpoint_url=local_runtime.runtime.aws_endpoint)
    queue = local_runtime.runtime.template.queue_url("RunQueue")
    for _ in range(3):
        sqs.send_message(QueueUrl=queue, MessageBody=f'{{"account_id": "{shop.account_id}", "run_id": "{runs[people[0]]}"}}')
    # A cancel racing the firing for the others.
    shop.clock.set(datetime(2026, 7, 1, 13, 1, tzinfo=NY))  # past due: the clock ran on while the runs were made
    answers = {}

    def cancel(person):
        answers[person] = local_runtime.request("POST", f"/v1/runs/{runs[person]}/cancel", headers=shop.headers)

    threads = [threading.Thread(target=cancel, args=(p,)) for p in people[1:]]
    [t.start() for t in threads]
    shop.tick()
    [t.join() for t in threads]
    shop.tick()
    for person, email in zip(people, (f"p{n}@example.com" for n in range(4))):
        final = shop.call("GET", f"/v1/runs/{runs[person]}")
        sent = shop.emails_to(email)
        assert (final["status"], len(sent)) in (("succeeded", 1), ("cancelled", 0)), (final, sent)
        if person in answers:
            assert answers[person].status_code == (200 if final["status"] == "cancelled" else 409)
    assert len(shop.emails_to("p0@example.com")) == 1


def test_text_messages_go_through_sns_and_show_in_the_outbox(shop):
    shop.at(datetime(2026, 8, 3, 12, 0, tzinfo=NY))
    vip = shop.make("/v1/contact-lists", {"name": "VIP"})["id"]
    text = shop.make("/v1/templates", {"title": "Ping", "type": "text", "body": "Hi {{ contact.first_name }}!"})["id"]
    shop.automation(contact_list_id=vip, template_type="text", template_id=text)
    gus = shop.contact("gus@example.com", phone="+1 415 555 0199")
    shop.join(vip, gus)
    shop.tick()
    outbox = shop.call("GET", f"/_local/outbox?channel=sms&account_id={shop.account_id}")
    [sms] = outbox["deliveries"]
    assert (sms["recipient"], sms["body"], sms["status"]) == ("+14155550199", "Hi Gus!", "sent")
    [accepted] = [m for m in outbox["sns_messages"] if m["id"] == sms["provider_id"]]
    assert accepted == {"id": sms["provider_id"], "phone_number": "+14155550199", "message": "Hi Gus!"}


# -- on time, whatever the clocks do: the exact dates of each defect of issue 10 ------------------
@pytest.mark.parametrize("zone_name, day, at, before, skipped, moved", [
    # 14 March 2027: New York skips 02:00-03:00; a daily 02:30 rule goes at 03:30 that day.
    ("America/New_York", "daily", (2, 30), date(2027, 3, 13), date(2027, 3, 14), datetime(2027, 3, 14, 3, 30, tzinfo=NY)),
    # 3 October 2027: Lord Howe skips 02:00-02:30; a Sunday 02:15 rule goes at 02:45 that day.
    ("Australia/Lord_Howe", "sunday", (2, 15), date(2027, 9, 26), date(2027, 10, 3),
     datetime(2027, 10, 3, 2, 45, tzinfo=ZoneInfo("Australia/Lord_Howe"))),
])
def test_a_recurring_rule_at_a_time_the_spring_change_skips_fires_that_day_at_the_moved_time(
        local_runtime, clock, zone_name, day, at, before, skipped, moved):
    zone = ZoneInfo(zone_name)
    shop = Shop(local_runtime, clock, timezone=zone_name)  # recurring rules keep the account's clock
    on_time = datetime.combine(before, time(*at), zone)  # the occurrence before, on an ordinary day
    shop.at(on_time - timedelta(hours=12))
    group = shop.make("/v1/contact-lists", {"name": "Night owls"})["id"]
    shop.automation(contact_list_id=group, template_type="email", template_id=shop.email_template("Night"),
                    trigger_type="recurring", day=day, hour=at[0], min=at[1], ampm="am")
    hal = shop.contact("hal@example.com")
    shop.join(group, hal)
    shop.at(on_time + timedelta(minutes=1))
    shop.at(moved - timedelta(minutes=1))
    assert len(shop.sent_at("hal@example.com")) == 1  # not yet: the skipped time has moved forward
    shop.at(moved + timedelta(minutes=1))
    due = {r["occurrence"]: _instant(r["due_at"]) for r in shop.runs(contact_uuid=hal)}
    assert due == {f"recurring:{before}": on_time, f"recurring:{skipped}": moved}
    sent = shop.sent_at("hal@example.com")
    assert len(sent) == 2 and sent[0] >= on_time and sent[1] >= moved


@pytest.mark.parametrize("zone_name, day", [("America/Havana", (2027, 3, 14)), ("America/Santiago", (2027, 9, 5)),
                                            ("Africa/Cairo", (2027, 4, 30))])
def test_a_birthday_on_a_day_that_starts_at_one_am_is_sent_at_nine(shop, zone_name, day):
    """Those zones' spring changes skip midnight: planning on UTC days never depends on it."""
    zone, birthday_day = ZoneInfo(zone_name), datetime(*day, 9, 0, tzinfo=ZoneInfo(zone_name))
    shop.at(birthday_day - timedelta(days=3))
    birthday = shop.make("/v1/custom-fields", {"name": "Birthday", "scope": "contact", "type": "date"})["id"]
    members = shop.make("/v1/contact-lists", {"name": "Members"})["id"]
    shop.automation(contact_list_id=members, template_type="email", template_id=shop.email_template("Happy"),
                    trigger_type="custom_field", custom_field_id=birthday, hour=9, min=0, ampm="am")
    jo = shop.contact("jo@example.com", timezone=zone_name, custom_fields={str(birthday): f"1990-{day[1]:02d}-{day[2]:02d}"})
    shop.join(members, jo)
    for days_before in (2, 1):
        shop.at(birthday_day - timedelta(days=days_before))
    shop.at(birthday_day - timedelta(minutes=1))
    assert shop.sent_at("jo@example.com") == []
    shop.at(birthday_day + timedelta(minutes=1))
    shop.at(birthday_day + timedelta(days=1))
    [sent] = shop.sent_at("jo@example.com")
    [run] = shop.runs(contact_uuid=jo)
    assert run["occurrence"] == f"date:{birthday_day.date().isoformat()}" and _instant(run["due_at"]) == birthday_day
    assert sent >= birthday_day.replace(second=0) and sent.astimezone(zone).date() == birthday_day.date()


def test_a_one_minute_delay_sends_not_before_the_minute_is_up(shop):
    shop.at(datetime(2027, 6, 1, 11, 59, tzinfo=NY))
    signups = shop.make("/v1/contact-lists", {"name": "Signups"})["id"]
    shop.automation(contact_list_id=signups, template_type="email", template_id=shop.email_template("Minute"),
                    delay_min=1)
    kim = shop.contact("kim@example.com")
    joined = shop.clock.set(datetime(2027, 6, 1, 12, 0, tzinfo=NY))
    shop.join(signups, kim)
    [run] = shop.runs(contact_uuid=kim)
    due = _instant(run["due_at"])
    assert due >= joined + timedelta(minutes=1) and run["status"] == "scheduled"
    assert shop.sent_at("kim@example.com") == []  # not at once
    shop.at(due - timedelta(seconds=1))
    assert shop.sent_at("kim@example.com") == []
    shop.at(due + timedelta(seconds=1))
    [sent] = shop.sent_at("kim@example.com")
    assert sent >= datetime(2027, 6, 1, 12, 1, tzinfo=NY) and sent >= due.replace(microsecond=0)


def test_a_join_just_before_the_window_opens_sends_when_it_opens_not_before(shop):
    shop.at(datetime(2027, 6, 2, 8, 0, tzinfo=NY))
    morning = shop.make("/v1/contact-lists", {"name": "Morning"})["id"]
    shop.automation(contact_list_id=morning, template_type="email", template_id=shop.email_template("Morning"),
                    contact_trigger_hours=1, contact_trigger_from_hour=9, contact_trigger_from_min=0,
                    contact_trigger_from_ampm="am", contact_trigger_to_hour=5, contact_trigger_to_min=0,
                    contact_trigger_to_ampm="pm")
    lou = shop.contact("lou@example.com")
    shop.clock.set(datetime(2027, 6, 2, 8, 59, 10, tzinfo=NY))
    shop.join(morning, lou)
    opening = datetime(2027, 6, 2, 9, 0, tzinfo=NY)
    [run] = shop.runs(contact_uuid=lou)
    assert _instant(run["due_at"]) == opening and shop.sent_at("lou@example.com") == []
    shop.at(opening - timedelta(seconds=1))
    assert shop.sent_at("lou@example.com") == []
    shop.at(opening + timedelta(seconds=1))
    [sent] = shop.sent_at("lou@example.com")
    assert sent >= opening
