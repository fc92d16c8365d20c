"""Zendesk automations that actually run: zenpy drives tickets on the local runtime, the clock
moves, and the hourly sweep (coordinator -> SQS -> workers) does its job."""
from datetime import timedelta

import pytest
from support import basic_auth
from zenpy.lib.api_objects import Automation, Ticket, User
from zenpy_clients import zenpy_for_a_new_account

pytestmark = pytest.mark.e2e


@pytest.fixture
def desk(local_runtime, monkeypatch):
    client, account = zenpy_for_a_new_account(local_runtime, monkeypatch, "Sweep Co")
    return client, basic_auth(account["email"], account["api_key"])


def ticket_in_status(zendesk, subject, requester_email, status):
    """A ticket created through zenpy, then moved to ``status``; returns its id."""
    created = zendesk.tickets.create(Ticket(subject=subject, description=f"About {subject}",
                                            requester=User(name=requester_email.split(".")[0].title(),
                                                           email=requester_email))).ticket
    ticket = zendesk.tickets(id=created.id)
    ticket.status = status
    zendesk.tickets.update(ticket)
    return created.id


def sweep(local_runtime):
    # The directory's accounts (this test's, the development account, the fixtures'): under load, a while.
    answer = local_runtime.request("POST", "/_local/sweep", json={"timeout_s": 110})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) >= {"tickets_evaluated", "automations_fired", "tickets_updated", "notifications_sent",
                         "duration_ms"}
    return body


def emails_to(local_runtime, address):
    outbox = local_runtime.request("GET", "/_local/outbox?channel=email").json()["deliveries"]
    return [d for d in outbox if d["recipient"] == address]


def test_the_default_rule_closes_a_ticket_four_days_after_it_was_solved(desk, local_runtime, clock):
    zendesk, auth = desk
    ticket_id = ticket_in_status(zendesk, "Printer on fire", "rita.close@example.com", "solved")
    solved_at = clock.now()  # to the second: the ticket was solved up to a second later

    clock.set(solved_at + timedelta(hours=95))
    sweep(local_runtime)
    assert zendesk.tickets(id=ticket_id).status == "solved"

    clock.set(solved_at + timedelta(hours=97, minutes=1))
    summary = sweep(local_runtime)
    assert summary["automations_fired"] >= 1 and summary["tickets_updated"] >= 1
    assert zendesk.tickets(id=ticket_id).status == "closed"

    runs = local_runtime.request("GET", f"/v1/runs?ticket_id={ticket_id}", headers={"Authorization": auth}).json()
    [run] = runs["runs"]
    assert run["automation_id"] == 1 and run["changes"] == {"status": "closed"} and run["status"] == "succeeded"
    audits = local_runtime.request("GET", f"/api/v2/tickets/{ticket_id}/audits.json",
                                   headers={"Authorization": auth}).json()["audits"]
    assert audits[-1]["via"]["source"]["from"]["title"] == "Close ticket 4 days after status is set to solved"

    clock.advance(3600)  # closed tickets are never touched again
    sweep(local_runtime)
    assert len(local_runtime.request("GET", f"/v1/runs?ticket_id={ticket_id}",
                                     headers={"Authorization": auth}).json()["runs"]) == 1


def test_a_notification_is_sent_once_per_firing_and_again_next_hour(desk, local_runtime, clock):
    zendesk, _ = desk
    zendesk.automations.create(Automation(
        title="Remind the requester",
        conditions={"all": [{"field": "status", "operator": "is", "value": "pending"},
                            {"field": "PENDING", "operator": "greater_than", "value": "1"}], "any": []},
        actions=[{"field": "notification_user", "value": [
            "requester_id", "Waiting on you: {{ticket.title}}",
            "Hi {{ticket.requester.name}}, ticket #{{ticket.id}} is {{ticket.status}}."]}]))
    ticket_id = ticket_in_status(zendesk, "Invoice copy", "pat.remind@example.com", "pending")

    clock.advance(2 * 3600 + 60)
    sweep(local_runtime)
    sweep(local_runtime)  # the same hour again: nothing more
    [mail] = emails_to(local_runtime, "pat.remind@example.com")
    assert mail["subject"] == "Waiting on you: Invoice copy"
    assert mail["body"] == f"Hi Pat, ticket #{ticket_id} is pending."
    assert mail["status"] == "sent" and mail["provider_id"]
    ses = local_runtime.request("GET", "/_local/outbox").json()["ses_messages"]
    assert sum("pat.remind@example.com" in str(m["destinations"]) for m in ses) == 1

    clock.advance(3600)  # no nullifying action: Zendesk fires it again next hour
    sweep(local_runtime)
    assert len(emails_to(local_runtime, "pat.remind@example.com")) == 2
    assert zendesk.tickets(id=ticket_id).status == "pending"


def test_the_hourly_schedule_fires_on_the_local_clock(desk, local_runtime, clock):
    zendesk, _ = desk
    ticket_id = ticket_in_status(zendesk, "Scheduled", "sam.tick@example.com", "solved")
    clock.advance(97 * 3600)
    fired = local_runtime.request("POST", "/_local/scheduler/tick").json()["fired"]
    assert any(f["source"] == "template" for f in fired)
    assert zendesk.tickets(id=ticket_id).status == "closed"


def test_a_comment_is_an_update_the_hours_since_update_condition_sees(desk, local_runtime, clock):
    from zenpy.lib.api_objects import Comment

    zendesk, _ = desk
    # A time condition alone, as real Zendesk accepts.
    zendesk.automations.create(Automation(
        title="Tag tickets nobody touched for two hours",
        conditions={"all": [{"field": "updated_at", "operator": "greater_than", "value": "2"}], "any": []},
        actions=[{"field": "current_tags", "value": "stale"}]))
    quiet = ticket_in_status(zendesk, "Quiet", "quinn.quiet@example.com", "open")
    talked_to = ticket_in_status(zendesk, "Talked to", "tara.talk@example.com", "open")
    clock.set(clock.now() + timedelta(hours=4))  # over 2 whole hours whatever the minute the cycle counts from
    ticket = zendesk.tickets(id=talked_to)
    ticket.comment = Comment(body="Still looking into it", public=True)
    audit = zendesk.tickets.update(ticket).audit
    assert [(e["type"], e["body"]) for e in audit.events] == [("Comment", "Still looking into it")]

    sweep(local_runtime)
    assert "stale" in zendesk.tickets(id=quiet).tags
    assert "stale" not in zendesk.tickets(id=talked_to).tags
