"""`automations serve` as people run it: ready when healthy, and its data kept across a restart."""
from __future__ import annotations

import base64
import signal
import socket
import time
from datetime import datetime, timedelta

import boto3
import pytest
import requests

pytestmark = pytest.mark.e2e

DEV_EMAIL, DEV_KEY = "ready@example.com", "r" * 40


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def first_healthy_answer(base_url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base_url}/_local/health", timeout=5).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.01)
    raise AssertionError("never healthy")


@pytest.mark.parametrize("attempt", range(3))
def test_the_first_calls_after_the_first_healthy_answer_succeed(serve, attempt):
    port = free_port()
    serve("--ephemeral", port=port, env={"AUTOMATIONS_DEV_EMAIL": DEV_EMAIL, "AUTOMATIONS_DEV_API_KEY": DEV_KEY})
    base_url = f"http://127.0.0.1:{port}"
    first_healthy_answer(base_url)
    token = base64.b64encode(f"{DEV_EMAIL}/token:{DEV_KEY}".encode()).decode()
    listed = requests.get(f"{base_url}/api/v2/automations.json", headers={"Authorization": f"Basic {token}"}, timeout=30)
    assert listed.status_code == 200, listed.text
    moved = requests.post(f"{base_url}/_local/clock", json={"advance_seconds": 60}, timeout=30)
    assert moved.status_code == 200, moved.text
    ticked = requests.post(f"{base_url}/_local/scheduler/tick", timeout=60)
    assert ticked.status_code == 200, ticked.text


# --- data survives a restart ---------------------------------------------------------------------


class Stack:
    """What a developer made on a running `automations serve`, as a client sees it."""

    def __init__(self, process) -> None:
        self.base_url, self.aws_endpoint = process.base_url, process.aws_endpoint

    def call(self, method: str, path: str, expected: int = 200, **kwargs) -> dict:
        response = requests.request(method, self.base_url + path, headers={"Authorization": f"Bearer {KEY}"},
                                    timeout=60, **kwargs)
        assert response.status_code == expected, response.text
        return response.json() if response.content else {}

    def zendesk(self, method: str, path: str, expected: int = 200, **kwargs) -> dict:
        token = base64.b64encode(f"{EMAIL}/token:{KEY}".encode()).decode()
        response = requests.request(method, self.base_url + path, headers={"Authorization": f"Basic {token}"},
                                    timeout=60, **kwargs)
        assert response.status_code == expected, response.text
        return response.json()

    def tick(self) -> list[str]:
        """Fire what is due and drain the queues; the names of the run schedules fired."""
        answer = requests.post(self.base_url + "/_local/scheduler/tick", timeout=120)
        assert answer.status_code == 200, answer.text
        return [f["schedule"] for f in answer.json()["fired"] if f["schedule"].startswith("run_")]

    def clock(self, **move) -> datetime:
        answer = requests.request("POST" if move else "GET", self.base_url + "/_local/clock", json=move or None, timeout=30)
        return datetime.fromisoformat(answer.json()["now"].replace("Z", "+00:00"))

    def mails(self, subject: str) -> list[dict]:
        outbox = self.call("GET", "/_local/outbox?channel=email")
        return [d for d in outbox["deliveries"] if d["subject"] == subject]

    def parked_queue(self):
        """A queue nothing drives locally (schedules' dead letters), and its URL."""
        sqs = boto3.client("sqs", endpoint_url=self.aws_endpoint, region_name="us-east-1",
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        [url] = [u for u in sqs.list_queues()["QueueUrls"] if "ScheduleDeadLetter" in u or "schedule-dlq" in u]
        return sqs, url


EMAIL, KEY = "keep@example.com", "p" * 40


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["stopped", "killed"])
def test_everything_survives_a_restart_and_the_scheduled_run_fires_once_at_its_time(serve, tmp_path, stop):
    env = {"AUTOMATIONS_DEV_EMAIL": EMAIL, "AUTOMATIONS_DEV_API_KEY": KEY}
    first = serve("--data-dir", str(tmp_path), env=env).ready()
    stack = Stack(first)
    moved_to = stack.clock(advance_seconds=86400)
    other = requests.post(stack.base_url + "/_local/accounts", json={"name": "Other", "email": "other@example.com"},
                          timeout=30).json()
    template = stack.call("POST", "/v1/templates", 201, json={"title": "Later", "type": "email", "subject": "Later",
                                                              "text": "Hi {{ contact.email }}"})
    now_template = stack.call("POST", "/v1/templates", 201, json={"title": "Now", "type": "email", "subject": "Now",
                                                                  "text": "Order {{ data.order }}"})
    group = stack.call("POST", "/v1/contact-lists", 201, json={"name": "Keepers"})
    later = stack.call("POST", "/v1/automations", 201, json={
        "title": "An hour after joining", "trigger": "list_joined",
        "trigger_config": {"source": {"kind": "list", "id": group["id"]}, "delay": {"hours": 1}},
        "actions": [{"kind": "send_email", "template_id": template["id"]}]})
    stack.call("POST", "/v1/automations", 201, json={
        "title": "On order", "trigger": "event", "trigger_config": {"event": "shop.order_placed"},
        "actions": [{"kind": "send_email", "template_id": now_template["id"]}]})
    contact = stack.call("POST", "/v1/contacts", 201, json={"email": "ada@example.com", "first_name": "Ada"})
    stack.call("POST", f"/v1/contact-lists/{group['id']}/members", json={"contact_uuids": [contact["uuid"]]})
    stack.call("POST", "/v1/events", 202, json={"event": "shop.order_placed", "contact_uuid": contact["uuid"],
                                                "data": {"order": "A-1"}})
    stack.tick()
    ticket = stack.zendesk("POST", "/api/v2/tickets.json", 201,
                           json={"ticket": {"subject": "Kept", "comment": {"body": "Still here?"}}})["ticket"]
    sqs, parked = stack.parked_queue()
    sqs.send_message(QueueUrl=parked, MessageBody="parked message")
    [run] = stack.call("GET", f"/v1/runs?automation_id={later['id']}")["runs"]
    assert run["status"] == "scheduled" and len(stack.mails("Now")) == 1
    before = {path: stack.call("GET", path) for path in (
        "/v1/templates", "/v1/contact-lists", "/v1/automations", "/v1/contacts",
        f"/v1/contact-lists/{group['id']}/members", f"/v1/runs?contact_uuid={contact['uuid']}")}

    time.sleep(1.5)  # the target: nothing acknowledged more than 1 s before a crash is lost
    first.signal(stop)
    stack = Stack(serve("--data-dir", str(tmp_path), env=env).ready())

    assert {path: stack.call("GET", path) for path in before} == before
    assert stack.zendesk("GET", f"/api/v2/tickets/{ticket['id']}.json")["ticket"]["subject"] == "Kept"
    token = base64.b64encode(f"{other['email']}/token:{other['api_key']}".encode()).decode()
    assert requests.get(stack.base_url + "/api/v2/automations.json", headers={"Authorization": f"Basic {token}"},
                        timeout=30).status_code == 200  # the other account and its key
    sqs, parked = stack.parked_queue()
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=parked)["Messages"]] == ["parked message"]
    assert len(stack.mails("Now")) == 1 and stack.mails("Later") == []
    assert stack.clock() - moved_to < timedelta(seconds=60)  # the clock kept its place (a day ahead)

    due = datetime.fromisoformat(run["due_at"].replace("Z", "+00:00"))
    assert stack.clock(set=(due - timedelta(minutes=1)).isoformat()) and stack.tick() == []
    stack.clock(set=(due + timedelta(seconds=5)).isoformat())
    assert stack.tick() == [run["id"]]
    stack.clock(advance_seconds=3600)
    assert stack.tick() == [] and len(stack.mails("Later")) == 1


@pytest.mark.parametrize("name, content", [("state.base", b"automations-local base 2\n not a pickle"),
                                           ("state.pickle", b"automations-local state 1\n not a pickle")])
def test_a_state_file_it_cannot_read_is_refused_and_kept(serve, tmp_path, name, content):
    state = tmp_path / name
    state.write_bytes(content)
    process = serve("--data-dir", str(tmp_path))
    assert process.process.wait(60) == 1
    assert f"automations: the local state in {tmp_path} is refused: {name} cannot be read" in process.errors()
    assert state.read_bytes() == content
