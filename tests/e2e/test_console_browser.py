"""The local console in a real headless Chromium (Debian's, driven by Playwright): a person moves
the clock and sees the delayed email appear in the mail viewer, its HTML in a sandboxed frame."""
from __future__ import annotations

import base64
import os
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"  # Debian's package; `make test` installs it
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS_DIR", Path(__file__).resolve().parents[2] / "test-artifacts"))
# Flags for a root, offline machine: no sandbox (root), nothing fetched in the background.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
WAIT_MS = 20_000


@pytest.fixture
def browser_page():
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make test` installs Debian's chromium package"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 1100})
        finally:
            browser.close()


def test_moving_the_clock_in_the_console_shows_the_delayed_email(local_runtime, clock, browser_page):
    dev = local_runtime.as_account({"Authorization": "Bearer " + local_runtime.dev_api_key})
    basic = base64.b64encode(f"{local_runtime.dev_email}:{local_runtime.dev_api_key}".encode()).decode()
    start = clock.set(datetime(2031, 3, 4, 10, 0, tzinfo=timezone.utc))
    marker, person = f"Console {uuid.uuid4().hex[:8]}", f"cleo-{uuid.uuid4().hex[:8]}@example.com"
    template = dev.make("/v1/templates", {"title": marker, "type": "email", "subject": f"{marker} for {{{{ contact.first_name }}}}",
                                          "html": "<h1 id='greeting'>Hello {{ contact.first_name }}</h1>",
                                          "text": "Hello {{ contact.first_name }}"})["id"]
    welcome = dev.make("/v1/contact-lists", {"name": marker})["id"]
    answer = local_runtime.request("POST", "/automations", headers={"Authorization": f"Basic {basic}"}, json={
        "trigger_type": "contact", "contact_list_id": welcome, "template_type": "email", "template_id": template,
        "delay_days": 1, "delay_hours": 0, "delay_min": 0})
    assert answer.status_code in (200, 201), answer.text
    cleo = dev.make("/v1/contacts", {"email": person, "first_name": "Cleo"})["uuid"]
    assert dev.call("POST", f"/v1/contact-lists/{welcome}/members", json={"contact_uuids": [cleo]}).status_code in (200, 201)
    assert local_runtime.request("POST", "/_local/scheduler/tick").status_code == 200  # the join becomes a run

    page = browser_page
    page.goto(local_runtime.url("/_local/console"))
    timeline = page.locator("#timeline tbody")
    timeline.get_by_text(person).wait_for(timeout=WAIT_MS)
    subject = f"{marker} for Cleo"
    assert page.locator("#outbox").get_by_text(subject).count() == 0  # not sent yet: due in a day

    page.click("#advance-day")
    row = page.locator("#outbox tbody tr", has_text=subject)
    row.wait_for(timeout=WAIT_MS)
    assert clock.now() >= start + timedelta(days=1)
    row.click()
    frame = page.locator("#outbox .detail iframe")
    frame.wait_for(timeout=WAIT_MS)
    assert frame.get_attribute("sandbox") == ""  # no scripts, no same-origin access
    assert page.frame_locator("#outbox .detail iframe").locator("#greeting").inner_text() == "Hello Cleo"
    # a refresh may have read the runs just before the run finished: the next one shows it done
    page.locator("#runs tbody tr", has_text=person).filter(has_text="succeeded").wait_for(timeout=WAIT_MS)
    assert page.locator("#sweeps tbody tr").count() >= 1  # the day's hourly sweeps ran on the way

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "console.png"), full_page=True)
