"""The incremental ticket export, walked as clients walk it, over random change times (many in the
same second, some in the second not over yet) and page sizes: every walk, time-based or by
cursor, returns every ticket changed since ``start_time`` and reaches ``end_of_stream``."""
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import basic_auth, frozen_clock, http_event, invoke
from automations.surfaces.zendesk_tickets import new_ticket, ticket_changes

BASE = datetime(2030, 3, 1, 12, 0, 0, tzinfo=timezone.utc)

# Each change: (seconds after BASE, microsecond, which ticket it changes: a new one or an existing one).
changes = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 999_999), st.integers(0, 6)), min_size=1, max_size=14)


def export(auth, path, query):
    name = "zendesk_incremental_tickets_cursor" if path.endswith("/cursor.json") else "zendesk_incremental_tickets"
    status, _, body = invoke(name, http_event("GET", path, query=query, authorization=auth))
    assert status == 200, body
    return body


def walk(auth, path, query, onward):
    """The pages of an export from ``query`` on, each next one asked for with ``onward(page)``."""
    pages = []
    for _ in range(100):
        pages.append(export(auth, path, query))
        if pages[-1]["end_of_stream"]:
            return pages
        query = onward(pages[-1])
    raise AssertionError(f"{path} never reached end_of_stream")


def next_page(body):
    url = urlsplit(body["next_page"])
    assert url.path == "/api/v2/incremental/tickets.json"
    return dict(parse_qsl(url.query))


@pytest.fixture
def clock_at():
    with frozen_clock(BASE) as moving:
        yield moving


@pytest.mark.parametrize("small_pages", [False, True], ids=["pages of 4 MB", "pages of a few tickets' bytes"])
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(made=changes, per_page=st.integers(1, 4), start=st.integers(0, 3), read_after=st.integers(0, 2))
def test_every_walk_returns_every_change_and_ends(aws, clock_at, monkeypatch, small_pages, made, per_page, start,
                                                  read_after):
    from automations.bootstrap import services
    from automations.service import record_pages

    if small_pages:  # a second's changes then outgrow a page: the page ends inside it
        monkeypatch.setattr(record_pages, "MAX_EXPORT_BYTES", 3000)
    account, key = services().accounts.create_account("Exports", f"owner-{uuid.uuid4().hex}@acme.test")
    auth = basic_auth(account.email, key)
    changed: dict[int, datetime] = {}
    for second, micro, which in sorted(made):
        clock_at.set(BASE + timedelta(seconds=second, microseconds=micro))
        known = sorted(changed)
        if which < len(known):
            ticket_id = known[which]
            change = ticket_changes({"comment": {"body": f"change {second}.{micro}"}})
            services().tickets.update(account.id, ticket_id, change, author_email=account.email)
        else:
            ticket_id = services().tickets.create(account.id, new_ticket({"subject": "s", "description": "d"}),
                                                  author_email=account.email)[0].id
        changed[ticket_id] = clock_at.now()
    clock_at.advance(read_after)  # 0: the last changes' second is not over yet
    start_time = int((BASE + timedelta(seconds=start)).timestamp())
    expected = {t for t, when in changed.items() if when.timestamp() >= start_time}

    first = {"start_time": str(start_time), "per_page": str(per_page)}
    pages = walk(auth, "/api/v2/incremental/tickets.json", first, next_page)
    assert {t["id"] for p in pages for t in p["tickets"]} == expected
    for page in pages:
        seconds = [t["generated_timestamp"] for t in page["tickets"]]
        assert seconds == sorted(seconds) and all(s >= start_time for s in seconds)
        if len(seconds) > per_page:  # more than per_page only to finish the second of the last one asked for
            assert set(seconds[per_page - 1:]) == {seconds[per_page - 1]}
        if seconds:
            assert page["end_time"] in (seconds[-1], seconds[-1] + 1)
            query = dict(parse_qsl(urlsplit(page["next_page"]).query))
            assert query["start_time"] == str(page["end_time"])

    by_cursor = [t["id"] for p in walk(auth, "/api/v2/incremental/tickets/cursor.json", first,
                                       lambda body: {"cursor": body["after_cursor"], "per_page": str(per_page)})
                 for t in p["tickets"]]
    assert sorted(by_cursor) == sorted(expected)  # each once: a cursor never repeats


def test_zendesks_recorded_page(aws, clock_at):
    """Recorded: a page of one ticket with generated_timestamp 1694303526 answered end_time and
    next_page's start_time 1694303527, so per_page=1 moves on ticket by ticket."""
    from automations.bootstrap import services

    account, key = services().accounts.create_account("Recorded", "owner@recorded.test")
    auth = basic_auth(account.email, key)
    clock_at.set(datetime.fromtimestamp(1694303526.25, timezone.utc))
    first, _ = services().tickets.create(account.id, new_ticket({"subject": "a", "description": "d"}),
                                         author_email=account.email)
    second, _ = services().tickets.create(account.id, new_ticket({"subject": "b", "description": "d"}),
                                          author_email=account.email)
    clock_at.set(datetime.fromtimestamp(1694303527.5, timezone.utc))
    third, _ = services().tickets.create(account.id, new_ticket({"subject": "c", "description": "d"}),
                                         author_email=account.email)
    clock_at.advance(120)
    page = export(auth, "/api/v2/incremental/tickets.json", {"start_time": "1694303526", "per_page": "1"})
    # the two tickets of that second come together: the page ends with its second
    assert [(t["id"], t["generated_timestamp"]) for t in page["tickets"]] == [(first.id, 1694303526),
                                                                            (second.id, 1694303526)]
    assert page["end_time"] == 1694303527 and page["end_of_stream"] is False
    assert page["next_page"] == "https://automations.example.com/api/v2/incremental/tickets.json?per_page=1&start_time=1694303527"
    last = export(auth, "/api/v2/incremental/tickets.json", {"start_time": "1694303527", "per_page": "1"})
    assert [t["id"] for t in last["tickets"]] == [third.id] and last["end_time"] == 1694303528
