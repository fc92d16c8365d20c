"""`automations seed`: a realistic account on a running local stack, made through the APIs a
client uses (nothing written behind the product's back): email and text templates, two contact
lists, contacts who join them, automations on each surface (a delayed welcome email on joining
a list, an order confirmation on an event, Zendesk sweep rules), and tickets loaded with Zendesk's
``create_many``, 100 a request, from those contacts, in every status."""
from __future__ import annotations

import base64
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import requests

PER_REQUEST = 100  # tickets a create_many takes, members a list call takes
SUBJECTS = ("Printer on fire", "Cannot log in", "Refund for order", "Invoice is wrong", "Shipping is late",
            "Password reset loop", "App crashes on start", "Change my plan", "Missing item in box", "Feature request")
FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Ken", "Radia", "Linus")
ZONES = ("Europe/London", "America/New_York", "Asia/Tokyo", "Europe/Berlin", "Australia/Sydney", "UTC")
STATUSES = ("new", "open", "open", "open", "pending", "hold", "solved")
PRIORITIES = ("low", "normal", "normal", "high", "urgent")


@dataclass
class Account:
    """One account of a running stack, as its client sees it."""

    base_url: str
    email: str
    api_key: str

    def __post_init__(self) -> None:
        self.http = requests.Session()

    def native(self, method: str, path: str, expected: int = 200, **kwargs) -> dict:
        return self._call(method, path, expected, {"Authorization": f"Bearer {self.api_key}"}, **kwargs)

    def zendesk(self, method: str, path: str, expected: int = 200, **kwargs) -> dict:
        token = base64.b64encode(f"{self.email}/token:{self.api_key}".encode()).decode()
        return self._call(method, path, expected, {"Authorization": f"Basic {token}"}, **kwargs)

    def _call(self, method: str, path: str, expected: int, headers: dict, **kwargs) -> dict:
        answer = self.http.request(method, self.base_url + path, headers=headers, timeout=300, **kwargs)
        if answer.status_code != expected:
            raise RuntimeError(f"{method} {path} answered {answer.status_code}: {answer.text[:300]}")
        return answer.json() if answer.content else {}


def dev_account(base_url: str) -> Account:
    """The running stack's development account (the one its console acts as)."""
    try:
        session = requests.get(f"{base_url}/_local/console/session", timeout=30)
    except requests.ConnectionError:
        raise RuntimeError(f"no local stack answers at {base_url}: start it with `make run` (or give --url)") from None
    if session.status_code != 200:
        raise RuntimeError(f"{base_url} is not a local stack ({session.status_code} from /_local/console/session)")
    found = session.json()
    return Account(base_url, found["email"], found["api_key"])


def tickets(account: Account, count: int, requesters: list[str], rng: random.Random,
            wait_s: float = 1800) -> list[str]:
    """``count`` tickets through create_many, waited for; the job ids."""
    jobs = []
    for start in range(0, count, PER_REQUEST):
        batch = []
        for n in range(start, min(count, start + PER_REQUEST)):
            email = rng.choice(requesters)
            batch.append({"subject": f"{rng.choice(SUBJECTS)} (#{n + 1})", "comment": {"body": "Hello, can you help?"},
                          "requester": {"email": email, "name": email.split("@")[0].replace(".", " ").title()},
                          "status": rng.choice(STATUSES), "priority": rng.choice(PRIORITIES),
                          "tags": rng.sample(["billing", "bug", "vip", "shipping", "login", "refund"], k=2)})
        jobs.append(account.zendesk("POST", "/api/v2/tickets/create_many.json", json={"tickets": batch})
                    ["job_status"]["id"])
    deadline = time.monotonic() + wait_s
    for job in jobs[-1:] + jobs[:-1]:  # done in about the order sent: the last one first, then a look at each
        while (status := account.zendesk("GET", f"/api/v2/job_statuses/{job}.json")["job_status"])["status"] \
                not in ("completed", "failed"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the ticket job {job} was not done within {wait_s:.0f} s")
            time.sleep(1)  # a status read reads the job's items: not too often
        failed = [r for r in status.get("results") or [] if r.get("error")]
        if status["status"] == "failed" or failed:
            raise RuntimeError(f"the ticket job {job} failed: {(failed or [status])[0]}")
    return jobs


def seed(account: Account, *, contacts: int, ticket_count: int, say: Callable[[str], object] = print) -> dict:
    """Make the account; what was made, by kind."""
    rng = random.Random(7)
    run = uuid.uuid4().hex[:6]  # in the contacts' emails: seeding again adds others
    existing = {rule["title"] for rule in account.zendesk("GET", "/api/v2/automations.json")["automations"]}
    rules = 0
    welcome = account.native("POST", "/v1/templates", 201, json={
        "title": "Welcome", "type": "email", "subject": "Welcome aboard, {{ contact.first_name }}",
        "text": "Hi {{ contact.first_name }}, thanks for joining our newsletter."})
    order = account.native("POST", "/v1/templates", 201, json={
        "title": "Order confirmation", "type": "email", "subject": "Order {{ data.order }} confirmed",
        "text": "Hi {{ contact.first_name }}, we have your order {{ data.order }}."})
    reminder = account.native("POST", "/v1/templates", 201, json={
        "title": "VIP reminder", "type": "text", "body": "Your VIP perks are waiting, {{ contact.first_name }}."})
    newsletter = account.native("POST", "/v1/contact-lists", 201, json={"name": "Newsletter"})
    vip = account.native("POST", "/v1/contact-lists", 201, json={"name": "VIP customers"})
    account.native("POST", "/v1/automations", 201, json={
        "title": "Welcome an hour after joining the newsletter", "trigger": "list_joined",
        "trigger_config": {"source": {"kind": "list", "id": newsletter["id"]}, "delay": {"hours": 1}},
        "actions": [{"kind": "send_email", "template_id": welcome["id"]}]})
    account.native("POST", "/v1/automations", 201, json={
        "title": "Text new VIPs the next day", "trigger": "list_joined",
        "trigger_config": {"source": {"kind": "list", "id": vip["id"]}, "delay": {"days": 1}},
        "actions": [{"kind": "send_text", "template_id": reminder["id"]}]})
    account.native("POST", "/v1/automations", 201, json={
        "title": "Confirm each order", "trigger": "event", "trigger_config": {"event": "shop.order_placed"},
        "actions": [{"kind": "send_email", "template_id": order["id"]}]})
    for rule in ({"title": "Follow up pending tickets after two days",  # beside Zendesk's default closing rule
                  "all": [{"field": "status", "operator": "is", "value": "pending"},
                          {"field": "PENDING", "operator": "greater_than", "value": "48"}],
                  "actions": [{"field": "current_tags", "value": "follow_up"}]},
                 {"title": "Escalate urgent tickets open a day",
                  "all": [{"field": "priority", "operator": "is", "value": "urgent"},
                          {"field": "OPEN", "operator": "greater_than", "value": "24"}],
                  "actions": [{"field": "current_tags", "value": "escalated"}]}):
        if rule["title"] not in existing:  # Zendesk refuses a second active rule alike
            account.zendesk("POST", "/api/v2/automations.json", 201, json={"automation": rule})
            rules += 1
    say(f"  3 templates, 2 lists, 3 automations (/v1), {rules} sweep rules (Zendesk); now {contacts:,} contacts")
    people = []
    for n in range(contacts):
        first = FIRST_NAMES[n % len(FIRST_NAMES)]
        contact = account.native("POST", "/v1/contacts", 201, json={
            "email": f"{first.lower()}.{n + 1}.{run}@example.com", "first_name": first, "last_name": f"Customer {n + 1}",
            "phone": f"+1555{n:07d}", "timezone": ZONES[n % len(ZONES)]})
        people.append(contact)
    for group, members in ((newsletter, people), (vip, people[::10])):
        uuids = [p["uuid"] for p in members]
        for start in range(0, len(uuids), PER_REQUEST):
            account.native("POST", f"/v1/contact-lists/{group['id']}/members",
                           json={"contact_uuids": uuids[start:start + PER_REQUEST]})
    say(f"  {contacts:,} contacts joined the lists; now {ticket_count:,} tickets")
    tickets(account, ticket_count, [p["email"] for p in people], rng)
    return {"templates": 3, "lists": 2, "automations": 3 + rules, "contacts": contacts, "tickets": ticket_count}
