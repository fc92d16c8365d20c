"""zenpy's tickets API works unchanged against the local runtime."""
import pytest
from zenpy import Zenpy
from zenpy.lib.api_objects import Ticket, User
from zenpy.lib.exception import APIException, RecordNotFoundException
from zenpy_clients import zenpy_for_a_new_account

pytestmark = pytest.mark.e2e


@pytest.fixture
def zendesk(local_runtime, monkeypatch):
    """A zenpy client for a fresh account, pointed at the local runtime the documented way."""
    return zenpy_for_a_new_account(local_runtime, monkeypatch, "Zenpy Tickets Co")[0]


def new_ticket(subject="My printer is on fire!", email="jane@customer.test"):
    return Ticket(subject=subject, description="The smoke is very colorful.",
                  requester=User(name="Jane Customer", email=email))


def test_create_show_update_delete(zendesk, local_runtime):
    created = zendesk.tickets.create(new_ticket())
    ticket = created.ticket
    assert ticket.id == 1 and ticket.status == "new" and ticket.subject == "My printer is on fire!"
    assert ticket.url == f"{local_runtime.base_url}/api/v2/tickets/1.json"
    comment, *events = created.audit.events
    assert (comment["type"], comment["body"], comment["public"]) == ("Comment", "The smoke is very colorful.", True)
    assert [e["field_name"] for e in events][:2] == ["subject", "requester_id"] and all("id" in e for e in events)
    assert created.audit.metadata.to_dict()["custom"] == {}  # zenpy parsed {"system", "custom"}
    assert ticket.via.source.to_dict() == {"from_": {}, "to": {}, "rel": None}  # zenpy renames "from"
    assert (ticket.brand_id, ticket.ticket_form_id, ticket.custom_status_id, ticket.is_public) == (1, 1, 1, True)

    shown = zendesk.tickets(id=ticket.id)
    assert shown.requester_id == ticket.requester_id != ticket.submitter_id
    assert shown.created.tzinfo is not None  # zenpy parsed Zendesk's timestamp

    shown.status = "solved"
    shown.tags = ["printer"]
    updated = zendesk.tickets.update(shown)
    assert updated.ticket.status == "solved" and updated.ticket.tags == ["printer"]
    assert {"type": "Change", "field_name": "status", "value": "solved", "previous_value": "new"} \
        in [{k: v for k, v in e.items() if k != "id"} for e in updated.audit.events]
    assert zendesk.tickets(id=ticket.id).status == "solved"
    assert len(list(zendesk.tickets.audits(ticket=ticket.id))) == 2

    zendesk.tickets.delete(shown)
    with pytest.raises(RecordNotFoundException):
        zendesk.tickets(id=ticket.id)


def test_the_same_requester_email_is_the_same_user(zendesk):
    first = zendesk.tickets.create(new_ticket("First")).ticket
    second = zendesk.tickets.create(new_ticket("Second")).ticket
    other = zendesk.tickets.create(new_ticket("Third", email="joe@customer.test")).ticket
    assert first.requester_id == second.requester_id != other.requester_id


def test_list_follows_cursor_pages(zendesk):
    for i in range(5):
        zendesk.tickets.create(new_ticket(f"Ticket {i}"))
    assert [t.subject for t in zendesk.tickets()] == [f"Ticket {i}" for i in range(5)]
    assert [t.id for t in zendesk.tickets(cursor_pagination=2)] == [1, 2, 3, 4, 5]
    offset = zendesk.tickets(cursor_pagination=False)
    assert offset.count == 5 and [t.id for t in offset] == [1, 2, 3, 4, 5]


def test_missing_ticket_raises_record_not_found(zendesk):
    with pytest.raises(RecordNotFoundException):
        zendesk.tickets(id=987654)


def test_invalid_status_raises_api_exception(zendesk):
    ticket = zendesk.tickets.create(new_ticket()).ticket
    ticket.status = "on-fire"
    with pytest.raises(APIException) as error:
        zendesk.tickets.update(ticket)
    assert "RecordInvalid" in str(error.value) and "Status" in str(error.value)
    assert zendesk.tickets(id=ticket.id).status == "new"


def test_other_accounts_tickets_are_invisible(zendesk, local_runtime):
    mine = zendesk.tickets.create(new_ticket()).ticket
    other = local_runtime.create_account("Someone Else")
    theirs = Zenpy(subdomain="other", email=other["email"], token=other["api_key"], disable_cache=True)
    assert list(theirs.tickets()) == []
    with pytest.raises(RecordNotFoundException):
        theirs.tickets.delete(mine)
    assert zendesk.tickets(id=mine.id).subject == mine.subject


def test_a_tickets_people_through_zenpys_lazy_properties(zendesk):
    ticket = zendesk.tickets.create(new_ticket()).ticket
    shown = zendesk.tickets(id=ticket.id)
    assert (shown.requester.name, shown.requester.email) == ("Jane Customer", "jane@customer.test")
    me = zendesk.users.me()
    assert shown.submitter.id == me.id and me.role == "agent"
    assert zendesk.users(id=ticket.requester_id).role == "end-user"
    assert [u.id for u in zendesk.users(ids=[me.id, ticket.requester_id])] == [me.id, ticket.requester_id]


def test_users_create_and_search(zendesk):
    created = zendesk.users.create(User(name="Sam Searcher", email="Sam@Search.test"))
    assert created.role == "end-user" and created.email == "sam@search.test"
    assert [u.id for u in zendesk.users.search("sam@search.test")] == [created.id]
    assert [u.id for u in zendesk.users.search(query="email:sam@search.test")] == [created.id]
    assert list(zendesk.users.search("nobody@search.test")) == []
    with pytest.raises(RecordNotFoundException):
        zendesk.users(id=987654)


def test_tags(zendesk):
    ticket = zendesk.tickets.create(new_ticket()).ticket
    assert list(zendesk.tickets.add_tags(ticket.id, ["Printer", "fire"])) == ["printer", "fire"]
    assert list(zendesk.tickets.delete_tags(ticket.id, ["fire"])) == ["printer"]
    assert list(zendesk.tickets.set_tags(ticket.id, ["done"])) == ["done"]
    assert zendesk.tickets(id=ticket.id).tags == ["done"]


def finished(zendesk, job, timeout=60):
    """Poll the job status as a zenpy user would, until the worker has done it."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        status = zendesk.job_status(id=job.id)
        if status.status in ("completed", "failed") or time.monotonic() > deadline:
            return status
        assert status.status in ("queued", "working")
        time.sleep(0.2)


def test_bulk_create_update_delete_through_job_statuses(zendesk):
    job = zendesk.tickets.create([new_ticket(f"Bulk {i}") for i in range(3)])
    assert (job.status, job.total) == ("queued", 3)
    done = finished(zendesk, job)
    assert done.status == "completed" and done.progress == 3
    ids = [r.id for r in sorted(done.results, key=lambda r: r.index)]
    tickets = list(zendesk.tickets(ids=ids))
    assert [t.subject for t in tickets] == ["Bulk 0", "Bulk 1", "Bulk 2"]

    for t in tickets:
        t.priority = "high"
    assert finished(zendesk, zendesk.tickets.update(tickets)).status == "completed"
    assert {t.priority for t in zendesk.tickets(ids=ids)} == {"high"}

    assert finished(zendesk, zendesk.tickets.delete(tickets[:2])).status == "completed"
    assert [t.id for t in zendesk.tickets(ids=ids)] == [ids[2]]
    with pytest.raises(RecordNotFoundException):
        zendesk.tickets(id=ids[0])


def test_too_many_values(zendesk):
    with pytest.raises(APIException) as error:
        zendesk.tickets.create([new_ticket(f"T{i}") for i in range(101)])
    assert "TooManyValues" in str(error.value)


def test_deleted_tickets_restore_and_permanent_deletion(zendesk):
    keep, gone = (zendesk.tickets.create(new_ticket(s)).ticket for s in ("Keep me", "Gone for good"))
    zendesk.tickets.delete(keep)
    zendesk.tickets.delete(gone)
    assert sorted(t.subject for t in zendesk.tickets.deleted()) == ["Gone for good", "Keep me"]

    zendesk.tickets.restore(keep)
    assert zendesk.tickets(id=keep.id).subject == "Keep me"
    assert [t.id for t in zendesk.tickets.deleted()] == [gone.id]

    assert finished(zendesk, zendesk.tickets.permanently_delete(gone)).status == "completed"
    assert list(zendesk.tickets.deleted()) == []
    with pytest.raises(RecordNotFoundException):
        zendesk.tickets.restore(gone)


def test_audits_of_the_account_and_of_a_ticket(zendesk):
    first = zendesk.tickets.create(new_ticket("First")).ticket
    second = zendesk.tickets.create(new_ticket("Second")).ticket
    second.priority = "urgent"
    zendesk.tickets.update(second)
    everything = list(zendesk.tickets.audits())
    assert [(a.ticket_id, a.events[0]["type"]) for a in everything] == [
        (second.id, "Change"), (second.id, "Comment"), (first.id, "Comment")]
    assert [a.id for a in zendesk.tickets.audits(ticket=second.id)] == [everything[1].id, everything[0].id]


def test_incremental_exports_by_cursor_and_by_time(zendesk):
    made = [zendesk.tickets.create(new_ticket(f"Export {i}")).ticket for i in range(3)]
    zendesk.tickets.delete(made[1])
    by_cursor = list(zendesk.tickets.incremental(start_time=0, paginate_by_time=False))
    assert [(t.id, t.status) for t in by_cursor] == [(made[0].id, "new"), (made[2].id, "new"), (made[1].id, "deleted")]
    by_time = list(zendesk.tickets.incremental(start_time=0, paginate_by_time=True))
    assert [t.id for t in by_time] == [t.id for t in by_cursor]


def test_a_tickets_comments_and_tags(zendesk):
    from zenpy.lib.api_objects import Comment

    ticket = zendesk.tickets.create(new_ticket()).ticket
    ticket.comment = Comment(body="Checked the toner", public=False)
    zendesk.tickets.update(ticket)
    for i in range(3):
        zendesk.tickets.update(Ticket(id=ticket.id, comment=Comment(html_body=f"<p>Reply {i}</p>")))
    comments = list(zendesk.tickets.comments(ticket=ticket.id))  # zenpy pages by cursor, 100 at a time
    assert [(c.body, c.public) for c in comments] == [("The smoke is very colorful.", True),
                                                      ("Checked the toner", False), ("Reply 0", True),
                                                      ("Reply 1", True), ("Reply 2", True)]
    me = zendesk.users.me()
    assert comments[0].author.id == comments[1].author.id == me.id and comments[0].created.tzinfo is not None
    with pytest.raises(RecordNotFoundException):
        list(zendesk.tickets.comments(ticket=987654))

    zendesk.tickets.add_tags(ticket.id, ["Printer", "toner"])
    assert [str(t) for t in zendesk.tickets.tags(ticket.id)] == ["printer", "toner"]
    with pytest.raises(RecordNotFoundException):
        list(zendesk.tickets.tags(987654))


def test_time_based_export_one_ticket_a_page(zendesk, clock):
    """zenpy walks next_page, and stops at an end_time less than 5 minutes old: the tickets are
    made an hour ago, several in the same second."""
    from datetime import datetime, timedelta, timezone

    start = clock.set(datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1))
    made = [zendesk.tickets.create(new_ticket(f"Export {i}")).ticket.id for i in range(4)]
    clock.advance(60)
    from itertools import islice

    walk = zendesk.tickets.incremental(start_time=int(start.timestamp()), paginate_by_time=True, per_page=1)
    walked = list(islice(walk, 40))  # a walk that stalls repeats one ticket forever
    assert len(walked) < 40 and sorted({t.id for t in walked}) == made
    assert all(t.generated_timestamp >= int(start.timestamp()) for t in walked)


def test_the_default_brand(zendesk):
    ticket = zendesk.tickets.create(new_ticket()).ticket
    brand = zendesk.tickets(id=ticket.id).brand  # zenpy reads /api/v2/brands/{brand_id}.json
    assert (brand.id, brand.name, brand.default, brand.active) == (1, "Zenpy Tickets Co", True, True)
    assert [b.id for b in zendesk.brands()] == [1] and zendesk.brands(id=1).subdomain == "zenpy-tickets-co"
    with pytest.raises(RecordNotFoundException):
        zendesk.brands(id=2)


def test_groups_create_update_list_delete(zendesk):
    from zenpy.lib.api_objects import Group

    made = [zendesk.groups.create(Group(name=f"Tier {i}")) for i in range(3)]
    assert [g.name for g in made] == ["Tier 0", "Tier 1", "Tier 2"]
    made[0].name = "Front line"
    assert zendesk.groups.update(made[0]).name == "Front line"
    assert [g.name for g in zendesk.groups()] == ["Front line", "Tier 1", "Tier 2"]  # cursor pages of 100
    assert zendesk.groups(id=made[1].id).name == "Tier 1"
    zendesk.groups.delete(made[1])
    assert [g.id for g in zendesk.groups()] == [made[0].id, made[2].id]
    with pytest.raises(RecordNotFoundException):
        zendesk.groups(id=made[1].id)
