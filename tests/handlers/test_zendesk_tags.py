"""GET /api/v2/tags: the account's ticket tags with their counts, as Zendesk lists them (most used
first, offset or cursor paginated), from counters sharded by ticket and moved in each ticket
write's own transaction, so they stay exact under concurrent updates and deletes."""
import threading

import pytest
from support import http_event, invoke
from zendesk_pages import cursor_pages
from test_zendesk_ticket_jobs import work


@pytest.fixture
def auth(account):
    return account[2]


def create(auth, tags, subject="Printer"):
    return invoke("zendesk_create_ticket", http_event("POST", "/api/v2/tickets.json", authorization=auth, body={
        "ticket": {"subject": subject, "description": "Smoke.", "tags": tags}}))


def on_ticket(function, method, auth, ticket_id, body=None, suffix=""):
    return invoke(function, http_event(method, f"/api/v2/tickets/{ticket_id}{suffix}", authorization=auth,
                                       route="/api/v2/tickets/{id}" + suffix, path_params={"id": str(ticket_id)},
                                       body=body))


def listing(auth, **query):
    return invoke("zendesk_list_tags", http_event("GET", "/api/v2/tags.json", query=query or None,
                                                  authorization=auth))


def counts(auth):
    status, _, body = listing(auth)
    assert status == 200
    return [(t["name"], t["count"]) for t in body["tags"]]


def truth(account_id):
    """The counts as the tickets themselves say, every ticket read."""
    from automations.bootstrap import services

    found: dict[str, int] = {}
    for ticket in services().tickets.list_page(account_id, 1, 100).items:
        for tag in ticket.tags:
            found[tag] = found.get(tag, 0) + 1
    return sorted(found.items(), key=lambda t: (-t[1], t[0]))


def test_counts_follow_every_kind_of_ticket_write(aws, account, auth):
    first = create(auth, ["printer", "fire"])[2]["ticket"]
    second = create(auth, ["printer"])[2]["ticket"]
    assert counts(auth) == [("printer", 2), ("fire", 1)]

    on_ticket("zendesk_update_ticket", "PUT", auth, second["id"], {"ticket": {"additional_tags": ["vip", "fire"]}})
    on_ticket("zendesk_ticket_tags", "DELETE", auth, first["id"], {"tags": ["printer"]}, "/tags")
    assert counts(auth) == [("fire", 2), ("printer", 1), ("vip", 1)]

    on_ticket("zendesk_delete_ticket", "DELETE", auth, second["id"])
    assert counts(auth) == [("fire", 1)]  # deleted tickets are not counted
    invoke("zendesk_restore_deleted_ticket", http_event(
        "PUT", f"/api/v2/deleted_tickets/{second['id']}/restore", route="/api/v2/deleted_tickets/{id}/restore",
        path_params={"id": str(second["id"])}, authorization=auth))
    assert counts(auth) == [("fire", 2), ("printer", 1), ("vip", 1)] == truth(account[0].id)

    job = invoke("zendesk_update_many_tickets", http_event("PUT", "/api/v2/tickets/update_many.json",
                                                           query={"ids": f"{first['id']},{second['id']}"},
                                                           body={"ticket": {"tags": ["done"]}}, authorization=auth))
    assert job[0] == 200
    work(aws)
    assert counts(auth) == [("done", 2)] == truth(account[0].id)


def test_most_used_first_then_by_name_offset_or_cursor(auth):
    for tags in (["b", "a", "c"], ["c", "a"], ["c"]):
        create(auth, tags)
    assert counts(auth) == [("c", 3), ("a", 2), ("b", 1)]
    page = listing(auth, per_page="2", page="2")[2]
    assert page["tags"] == [{"name": "b", "count": 1}] and page["count"] == 3 and page["next_page"] is None
    pages = cursor_pages(lambda query: listing(auth, **query), {"page[size]": "1"})
    assert [t["name"] for page in pages for t in page["tags"]] == ["c", "a", "b"]


@pytest.mark.parametrize("query", [{"page": "0"}, {"per_page": "x"}, {"page[size]": "101"}, {"page[after]": "!!"},
                                   {"page[after]": "a", "page[before]": "b"}, {"page[size]": "\ud800"}])
def test_bad_pagination(auth, query):
    create(auth, ["a"])
    status, _, body = listing(auth, **query)
    assert status == 400 and body["error"] in ("InvalidPaginationParameter", "InvalidValue")


def test_a_ticket_holds_at_most_48_tags(auth):
    assert create(auth, [f"t{i}" for i in range(48)])[0] == 201
    status, _, body = create(auth, [f"t{i}" for i in range(49)])
    assert status == 422 and "at most 48" in body["details"]["tags"][0]["description"]
    ticket = create(auth, ["x"])[2]["ticket"]
    grown = on_ticket("zendesk_ticket_tags", "PUT", auth, ticket["id"], {"tags": [f"u{i}" for i in range(48)]},
                      "/tags")
    assert grown[0] == 422
    swapped = on_ticket("zendesk_ticket_tags", "POST", auth, ticket["id"], {"tags": [f"u{i}" for i in range(48)]},
                        "/tags")
    assert swapped[0] == 200  # 49 counters moved with the ticket in one transaction


def test_counters_are_sharded_by_ticket(auth, account):
    """One tag on many tickets is counted in several partitions, not one hot key."""
    import boto3

    from automations import config

    for _ in range(8):
        create(auth, ["popular"])
    items = boto3.client("dynamodb").scan(TableName=config.table_name(), FilterExpression="SK = :sk",
                                          ExpressionAttributeValues={":sk": {"S": "TAG#popular"}})["Items"]
    assert len({i["PK"]["S"] for i in items}) == 8 and sum(int(i["ticket_count"]["N"]) for i in items) == 8


def test_concurrent_updates_and_deletes_keep_the_counts_exact(account, auth):
    tickets = [create(auth, ["shared"], f"T{i}")[2]["ticket"] for i in range(6)]
    barrier = threading.Barrier(12)
    errors = []

    def add(ticket_id, tag):
        barrier.wait()
        for _ in range(3):  # a 409 (lost races three times) is an answer; retry as a client would
            status = on_ticket("zendesk_ticket_tags", "PUT", auth, ticket_id, {"tags": [tag]}, "/tags")[0]
            if status != 409:
                break
        if status not in (200, 404):
            errors.append(status)

    def remove(ticket_id):
        barrier.wait()
        status = on_ticket("zendesk_delete_ticket", "DELETE", auth, ticket_id)[0]
        if status not in (204, 404, 409):
            errors.append(status)

    threads = [threading.Thread(target=add, args=(t["id"], f"tag{i % 2}")) for i, t in enumerate(tickets)]
    threads += [threading.Thread(target=add, args=(tickets[0]["id"], f"more{i}")) for i in range(3)]
    threads += [threading.Thread(target=remove, args=(t["id"],)) for t in tickets[3:6]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert counts(auth) == truth(account[0].id)
