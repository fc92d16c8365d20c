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
    done = page.locator("#runs tbody tr", has_text=person).filter(has_text="succeeded")
    done.wait_for(timeout=WAIT_MS)
    assert page.locator("#sweeps tbody tr").count() >= 1  # the day's hourly sweeps ran on the way

    # The account in view; a run's steps and deliveries one click away, its delivery one more.
    session = local_runtime.request("GET", "/_local/console/session").json()
    account = page.locator("#account")
    assert session["account_id"] in account.inner_text() and local_runtime.dev_email in account.inner_text()
    done.first.click()
    detail = page.locator("#runs .detail")
    detail.get_by_text("Steps").wait_for(timeout=WAIT_MS)
    assert detail.locator("table").first.get_by_text("succeeded").count() >= 1  # the step that ended it
    sent = detail.locator("tr", has_text=subject)
    assert sent.count() == 1 and "sent" in sent.inner_text()
    sent.click()
    page.locator("#outbox .detail .open-run").wait_for(timeout=WAIT_MS)  # the mail names its run

    for width in (1024, 1280, 1366, 1400, 1440, 1920):
        page.set_viewport_size({"width": width, "height": 1100})
        assert broken_words(page) == [], f"words broken across lines at {width} px"

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1400, "height": 1100})
    page.screenshot(path=str(ARTIFACTS / "console.png"), full_page=True)


def broken_words(page) -> list[str]:
    """The words of table cells that the layout breaks across two lines (a word shown in one
    piece has one client rectangle)."""
    return page.evaluate("""() => {
      const broken = [];
      for (const cell of document.querySelectorAll("td, th")) {
        const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
          for (const match of node.textContent.matchAll(/\\S+/g)) {
            const range = document.createRange();
            range.setStart(node, match.index);
            range.setEnd(node, match.index + match[0].length);
            if (range.getClientRects().length > 1) broken.push(match[0]);
          }
        }
      }
      return broken;
    }""")


def test_the_address_leads_to_the_console(local_runtime, browser_page):
    browser_page.goto(local_runtime.url("/"))
    browser_page.locator("#account").get_by_text(local_runtime.dev_email).wait_for(timeout=WAIT_MS)
    assert browser_page.url.endswith("/_local/console")


def test_the_api_docs_are_signed_in_as_the_development_account(local_runtime, browser_page):
    """Swagger UI comes authorized with the development key: "Try it out" answers 200 at once."""
    page = browser_page
    for docs in ("/docs/zendesk", "/docs/vipecloud", "/docs/piggy"):
        page.goto(local_runtime.url(docs))
        page.locator(".btn.authorize.locked").wait_for(timeout=WAIT_MS)
    page.goto(local_runtime.url("/docs/"))
    page.locator(".btn.authorize.locked").wait_for(timeout=WAIT_MS)
    operation = page.locator("#operations-automations-list_automations_v1_automations_get")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    status = operation.locator(".live-responses-table tr.response .response-col_status").first
    status.wait_for(timeout=WAIT_MS)
    assert status.inner_text().strip().startswith("200"), status.inner_text()
