"""zenpy's users and tags APIs work unchanged against the local runtime, as zenpy's own users
tests drive them: end-users made with a name only, single and bulk create, update and delete
(bulk ones through job statuses), create_or_update (one, and many through a job status),
searches, the incremental user export, and the account's tags."""
import pytest
from test_zenpy_tickets import finished, zendesk  # noqa: F401 - zendesk: a zenpy client for a fresh account
from zenpy.lib.api_objects import Ticket, User
from zenpy.lib.exception import APIException, RecordNotFoundException

pytestmark = pytest.mark.e2e


def test_single_create_update_delete_as_zenpys_own_tests(zendesk):
    created = zendesk.users.create(User(name="testUser", id=""))  # zenpy's TestUserCreateUpdateDelete
    assert isinstance(created, User) and created.name == "testUser" and created.email is None
    created.name = "testUser" + "a1b2"
    updated = zendesk.users.update(created)
    assert updated.name == "testUsera1b2" and not created._dirty_attributes
    deleted = zendesk.users.delete(updated)
    assert deleted.active is False
    with pytest.raises(RecordNotFoundException):
        zendesk.users(id=created.id)
    with pytest.raises(RecordNotFoundException):
        zendesk.users.delete(User(id=9223372036854775807))  # zenpy's "largest id Zendesk accepts"
    with pytest.raises(RecordNotFoundException):
        zendesk.users.update(User(id=9223372036854775807, name="x"))


def test_bulk_create_update_delete_through_job_statuses(zendesk):
    job = zendesk.users.create([User(name=f"testUser{i}") for i in range(50)])
    done = finished(zendesk, job)
    assert done.status == "completed" and len(done.results) == 50
    users = list(zendesk.users(ids=[r.id for r in done.results]))
    assert sorted(u.name for u in users) == sorted(f"testUser{i}" for i in range(50))
    for u in users:
        u.name += "-changed"
    assert finished(zendesk, zendesk.users.update(users)).status == "completed"
    assert {u.name.endswith("-changed") for u in zendesk.users(ids=[u.id for u in users])} == {True}
    assert finished(zendesk, zendesk.users.delete(users)).status == "completed"
    assert list(zendesk.users(ids=[u.id for u in users])) == []
    with pytest.raises(APIException) as error:
        zendesk.users.create([User(name=f"testUser{i}") for i in range(150)])
    assert "TooManyValues" in str(error.value)


def test_external_ids_create_or_update_and_searches(zendesk):
    made = zendesk.users.create_or_update(User(name="Ext User", external_id="crm-1"))
    same = zendesk.users.create_or_update(User(name="Ext User Renamed", external_id="crm-1", email="ext@x.test"))
    assert same.id == made.id and same.name == "Ext User Renamed"
    assert [u.id for u in zendesk.users.search(external_id="crm-1")] == [made.id]
    assert [u.id for u in zendesk.users.search(query="renamed")] == [made.id]
    assert [u.id for u in zendesk.users.search(query="ext@x.test")] == [made.id]
    other = zendesk.users.create(User(name="Second", external_id="crm-2"))
    assert finished(zendesk, zendesk.users.update_by_external_id([User(external_id="crm-2", name="By ext")])
                    ).status == "completed"
    assert zendesk.users(id=other.id).name == "By ext"
    assert finished(zendesk, zendesk.users.delete_by_external_id([User(external_id="crm-2")])).status == "completed"
    assert list(zendesk.users.search(external_id="crm-2")) == []


def test_create_or_update_many_through_a_job_status(zendesk):
    known = zendesk.users.create_or_update(User(name="Known", external_id="crm-7"))
    mailed = zendesk.users.create_or_update(User(name="Mailed", email="mailed@x.test"))
    job = zendesk.users.create_or_update([User(name="Known again", external_id="crm-7"),  # a list: the bulk endpoint
                                          User(name="Mailed again", email="MAILED@x.test"),
                                          User(name="New", email="new@x.test")])
    done = finished(zendesk, job)
    assert done.status == "completed"
    results = sorted(done.results, key=lambda r: r.index)
    assert [(r.action, r.status) for r in results] == [("update", "Updated"), ("update", "Updated"),
                                                       ("create", "Created")]
    assert [r.id for r in results[:2]] == [known.id, mailed.id]
    assert [zendesk.users(id=r.id).name for r in results] == ["Known again", "Mailed again", "New"]


def test_the_incremental_user_export_both_ways(zendesk, clock):
    from datetime import datetime, timedelta, timezone
    from itertools import islice

    start = clock.set(datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1))
    made = [zendesk.users.create(User(name=f"Export {i}")).id for i in range(3)]
    clock.advance(60)
    zendesk.users.delete(User(id=made[1]))
    clock.advance(60)
    by_cursor = list(islice(zendesk.users.incremental(start_time=int(start.timestamp())), 40))
    by_time = list(islice(zendesk.users.incremental(start_time=int(start.timestamp()), paginate_by_time=True,
                                                    per_page=1), 40))
    assert [u.id for u in by_cursor] == [u.id for u in by_time] == [made[0], made[2], made[1]]
    assert [u.active for u in by_time] == [True, True, False]


def test_the_accounts_tags(zendesk):
    for tags in (["printer", "fire"], ["printer"]):
        zendesk.tickets.create(Ticket(subject="Tagged", description="d", tags=tags))
    assert [(t.name, t.count) for t in zendesk.tags()] == [("printer", 2), ("fire", 1)]  # cursor pages
    assert [(t.name, t.count) for t in zendesk.tags(cursor_pagination=False)] == [("printer", 2), ("fire", 1)]
    assert [t.name for t in zendesk.tags(cursor_pagination=1)] == ["printer", "fire"]


def test_the_users_list_by_offset_and_cursor_and_by_role(zendesk):
    made = [zendesk.users.create(User(name=f"Listed {i}", role="agent" if i < 2 else "end-user")).id
            for i in range(5)]
    assert [u.id for u in zendesk.users()] == made  # offset pagination, zenpy's default
    assert [u.id for u in zendesk.users(cursor_pagination=2)] == made  # three cursor pages
    assert [u.id for u in zendesk.users(role="agent")] == made[:2]
    assert [u.id for u in zendesk.users(role=["end-user", "admin"], cursor_pagination=2)] == made[2:]


def test_a_taken_email_is_zendesks_duplicate_value(zendesk):
    zendesk.users.create(User(name="First", email="taken@x.test"))
    second = zendesk.users.create(User(name="Second"))
    for attempt in (lambda: zendesk.users.create(User(name="Again", email="TAKEN@x.test")),
                    lambda: zendesk.users.update(User(id=second.id, email="taken@x.test"))):
        with pytest.raises(APIException) as error:
            attempt()
        assert error.value.response.status_code == 422
        assert error.value.response.json()["details"] == {"email": [{
            "description": "Email: taken@x.test is already being used by another user", "error": "DuplicateValue"}]}
