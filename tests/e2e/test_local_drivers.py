"""The local runtime's drivers over HTTP: schedules fired on the local clock (/_local/scheduler/tick
and the background ticker), a whole sweep now (/_local/sweep), and what was sent (/_local/outbox)."""
from __future__ import annotations

import json
import os
import time
import uuid
from datetime import timedelta, timezone

import boto3
import pytest

from automations import config
from automations.adapters import aws
from automations.adapters.channels import SesEmailSender
from automations.adapters.dynamo_deliveries import DynamoDeliveryStore
from automations.domain.delivery import Channel, Delivery, DeliveryStatus

pytestmark = pytest.mark.e2e

UTC = timezone.utc
HARMLESS_TARGET = "AuthorizerFunction"  # answers "no account" to an event without credentials
SWEEP_SCHEDULE = ("SweepCoordinatorFunctionHourly", "SweepCoordinatorFunction")
UPKEEP_SCHEDULE = ("SweepCoordinatorFunctionUpkeep", "SweepCoordinatorFunction")


@pytest.fixture
def scheduler(local_runtime):
    return boto3.client("scheduler", endpoint_url=local_runtime.runtime.aws_endpoint, region_name="us-east-1")


@pytest.fixture
def group(scheduler):
    """A schedule group of the test's own, so other tests' schedules never get in the way."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    scheduler.create_schedule_group(Name=name)
    return name


def create_one_time(local_runtime, scheduler, group: str, name: str, at: str, zone: str) -> None:
    arn = local_runtime.runtime.template.arn(HARMLESS_TARGET)
    scheduler.create_schedule(
        Name=name, GroupName=group, ScheduleExpression=f"at({at})", ScheduleExpressionTimezone=zone,
        FlexibleTimeWindow={"Mode": "OFF"}, ActionAfterCompletion="DELETE",
        Target={"Arn": arn, "RoleArn": "arn:aws:iam::123456789012:role/scheduler",
                "Input": json.dumps({"headers": {}})})


def tick(local_runtime) -> list[dict]:
    response = local_runtime.request("POST", "/_local/scheduler/tick")
    assert response.status_code == 200, response.text
    return response.json()["fired"]


def exists(scheduler, group: str, name: str) -> bool:
    return any(s["Name"] == name for s in scheduler.list_schedules(GroupName=group)["Schedules"])


# --- the scheduler -------------------------------------------------------------------------------


def test_tick_fires_a_one_time_schedule_at_its_instant_and_deletes_it(local_runtime, clock, scheduler, group):
    clock.set("2035-03-24T09:00:00Z")
    # 10:30 on Sunday 25 March 2035 in Amsterdam, just after the change to summer time: 08:30Z.
    create_one_time(local_runtime, scheduler, group, "run-1", "2035-03-25T10:30:00", "Europe/Amsterdam")
    assert [f for f in tick(local_runtime) if f["group"] == group] == []
    clock.set("2035-03-25T08:29:00Z")
    assert [f for f in tick(local_runtime) if f["group"] == group] == []
    clock.advance(60)
    (fired,) = [f for f in tick(local_runtime) if f["group"] == group]
    assert (fired["schedule"], fired["source"], fired["function"], fired["due_at"]) == (
        "run-1", "scheduler", HARMLESS_TARGET, "2035-03-25T08:30:00Z")
    assert fired["fired_at"].startswith("2035-03-25T08:30") and "error" not in fired
    assert not exists(scheduler, group, "run-1")  # ActionAfterCompletion: DELETE
    assert [f for f in tick(local_runtime) if f["group"] == group] == []


def test_the_hourly_sweep_fires_on_the_local_clock(local_runtime, clock):
    clock.set("2036-01-01T00:00:00Z")
    tick(local_runtime)  # whatever the move made due
    clock.advance(1800)
    assert SWEEP_SCHEDULE not in [(f["schedule"], f["function"]) for f in tick(local_runtime)]
    clock.advance(1800)
    fired = [f for f in tick(local_runtime) if (f["schedule"], f["function"]) == SWEEP_SCHEDULE]
    assert len(fired) == 1 and fired[0]["source"] == "template" and fired[0]["group"] is None


def test_the_upkeep_fires_at_half_past_each_hour_on_the_local_clock(local_runtime, clock):
    clock.set("2036-02-01T00:10:00Z")
    tick(local_runtime)  # whatever the move made due
    clock.set("2036-02-01T00:29:00Z")
    assert UPKEEP_SCHEDULE not in [(f["schedule"], f["function"]) for f in tick(local_runtime)]
    clock.set("2036-02-01T00:31:00Z")
    fired = [f for f in tick(local_runtime) if (f["schedule"], f["function"]) == UPKEEP_SCHEDULE]
    assert len(fired) == 1 and fired[0]["due_at"] == "2036-02-01T00:30:00Z" and "error" not in fired[0]


def test_background_ticker_fires_without_being_asked(local_runtime, clock, scheduler, group):
    clock.set("2035-07-01T12:00:00Z")
    create_one_time(local_runtime, scheduler, group, "background", "2035-07-01T12:05:00", "UTC")
    clock.advance(600)
    deadline = time.monotonic() + 15
    while exists(scheduler, group, "background") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not exists(scheduler, group, "background")


@pytest.mark.parametrize("path", ["/_local/scheduler/tick", "/_local/sweep"])
@pytest.mark.parametrize("body", [b"not json", b"[1]", b'{"timeout_s": -1}', b'{"timeout_s": "9"}', b'{"later": true}'])
def test_tick_and_sweep_refuse_bad_input(local_runtime, path, body):
    response = local_runtime.request("POST", path, data=body)
    assert response.status_code == 400 and response.json()["error"]


def test_sweep_runs_one_whole_cycle(local_runtime, clock):
    clock.set("2036-02-01T10:00:00Z")
    response = local_runtime.request("POST", "/_local/sweep")
    assert response.status_code == 200, response.text
    summary = response.json()
    assert set(summary) == {"sweep_id", "tickets_evaluated", "automations_fired", "tickets_updated",
                            "notifications_sent", "firings_failed", "tickets_failed", "shards_failed", "duration_ms"}
    assert summary["sweep_id"] and all(isinstance(summary[k], int) and summary[k] >= 0 for k in summary if k != "sweep_id")


# --- the outbox ----------------------------------------------------------------------------------


def outbox(local_runtime, query: str = "") -> dict:
    response = local_runtime.request("GET", f"/_local/outbox{query}")
    assert response.status_code == 200, response.text
    return response.json()


def test_runtime_is_set_up_for_local_sending():
    assert os.environ["AUTOMATIONS_LOCAL"] == "1"
    identities = aws.client("ses").list_identities(IdentityType="EmailAddress")["Identities"]
    assert os.environ["SENDER_EMAIL"] in identities


def test_outbox_of_a_new_account_is_empty(local_runtime):
    account = local_runtime.create_account("Quiet Co")
    answer = outbox(local_runtime, f"?account_id={account['account_id']}")
    assert answer["deliveries"] == [] and isinstance(answer["ses_messages"], list)


def test_outbox_shows_deliveries_and_what_ses_got(local_runtime, clock):
    account_id = local_runtime.create_account("Loud Co")["account_id"]
    now = clock.set("2035-05-05T10:00:00Z")
    store = DynamoDeliveryStore(aws.client("dynamodb"), config.table_name())
    recipient = f"{uuid.uuid4().hex[:8]}@example.com"
    email = Delivery(account_id, "run_a.0.0", "run_a", Channel.EMAIL, recipient, "Ticket 7 solved", "Hello there",
                     now)
    webhook = Delivery(account_id, "run_b.1.0", "run_b", Channel.WEBHOOK, "wh_1", "", '{"id": 7}',
                       now + timedelta(seconds=5))
    aws.client("dynamodb").transact_write_items(TransactItems=[store.new_delivery_put(d) for d in (email, webhook)])
    sending = store.claim(email)
    provider_id = SesEmailSender(lambda: aws.client("sesv2"), os.environ["SENDER_EMAIL"]).send(sending)
    store.finish(sending, DeliveryStatus.SENT, provider_id)

    answer = outbox(local_runtime, f"?account_id={account_id}")
    assert [d["id"] for d in answer["deliveries"]] == ["run_b.1.0", "run_a.0.0"]  # newest first
    assert answer["deliveries"][1] == {
        "id": "run_a.0.0", "account_id": account_id, "run_id": "run_a", "channel": "email", "recipient": recipient,
        "subject": "Ticket 7 solved", "body": "Hello there", "status": "sent", "provider_id": provider_id,
        "created_at": "2035-05-05T10:00:00Z", "attempts": 1, "error": None}
    assert answer["deliveries"][0]["status"] == "pending" and answer["deliveries"][0]["provider_id"] is None
    (mail,) = [m for m in answer["ses_messages"] if m["id"] == provider_id]
    assert mail["source"] == os.environ["SENDER_EMAIL"] and mail["destinations"]["ToAddresses"] == [recipient]
    assert (mail["subject"], mail["body"]) == ("Ticket 7 solved", "Hello there")

    only_email = outbox(local_runtime, f"?account_id={account_id}&channel=email")["deliveries"]
    assert [d["id"] for d in only_email] == ["run_a.0.0"]
    assert {d["id"] for d in outbox(local_runtime, "?channel=webhook")["deliveries"]} >= {"run_b.1.0"}


@pytest.mark.parametrize("query", ["?channel=fax", "?channel=", "?account_id=", "?channel=email&channel=sms",
                                   "?acount_id=acc_1"])
def test_outbox_refuses_bad_filters(local_runtime, query):
    response = local_runtime.request("GET", f"/_local/outbox{query}")
    assert response.status_code == 400 and response.json()["error"]
