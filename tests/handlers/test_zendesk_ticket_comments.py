"""A ticket's comments and tags, read: GET /api/v2/tickets/{id}/comments and /tags."""
import pytest
from support import basic_auth, http_event, invoke
from zendesk_pages import cursor_pages
from test_zendesk_ticket_handlers import NOT_FOUND, TICKET, create, on_ticket, update

from automations.paging import encode_cursor

COMMENT_KEYS = ["id", "type", "author_id", "body", "html_body", "plain_body", "public", "attachments", "audit_id",
                "via", "created_at", "metadata"]


def comments(auth, ticket_id, query=None):
    return invoke("zendesk_list_ticket_comments", http_event(
        "GET", f"/api/v2/tickets/{ticket_id}/comments.json", route="/api/v2/tickets/{id}/comments.json",
        path_params={"id": f"{ticket_id}.json"}, query=query, authorization=auth))


def tags(auth, ticket_id):
    return invoke("zendesk_list_ticket_tags", http_event(
        "GET", f"/api/v2/tickets/{ticket_id}/tags.json", route="/api/v2/tickets/{id}/tags.json",
        path_params={"id": str(ticket_id)}, authorization=auth))


def bodies(body):
    return [c["body"] for c in body["comments"]]


@pytest.fixture
def auth(account):
    return account[2]


@pytest.fixture
def discussed(auth):
    """A ticket with its description and three comments (one private) among changes without one."""
    ticket_id = create(auth)[2]["ticket"]["id"]
    update(auth, ticket_id, comment={"body": "First reply"})
    update(auth, ticket_id, priority="high")
    update(auth, ticket_id, comment={"body": "Internal note", "public": False}, status="open")
    update(auth, ticket_id, tags=["printer"])
    update(auth, ticket_id, comment={"html_body": "<p>Fixed &amp; done</p>"})
    return ticket_id


EVERY = [TICKET["description"], "First reply", "Internal note", "Fixed & done"]


class TestComments:
    def test_every_comment_oldest_first_in_zendesks_shape(self, auth, discussed):
        status, _, body = comments(auth, discussed)
        assert status == 200 and bodies(body) == EVERY
        assert (body["count"], body["next_page"], body["previous_page"]) == (4, None, None)
        audits = invoke("zendesk_list_ticket_audits", http_event(
            "GET", f"/api/v2/tickets/{discussed}/audits", route="/api/v2/tickets/{id}/audits",
            path_params={"id": str(discussed)}, authorization=auth))[2]["audits"]
        commented = [a for a in audits if a["events"][0]["type"] == "Comment"]
        for comment, audit in zip(body["comments"], commented, strict=True):
            assert list(comment) == COMMENT_KEYS
            assert {k: comment[k] for k in COMMENT_KEYS[:9]} == audit["events"][0]  # the audit's Comment event
            assert (comment["via"], comment["created_at"], comment["metadata"]) == \
                (audit["via"], audit["created_at"], {"system": {}, "custom": {}})
        assert [c["public"] for c in body["comments"]] == [True, True, False, True]

    def test_newest_first(self, auth, discussed):
        assert bodies(comments(auth, discussed, {"sort_order": "desc"})[2]) == EVERY[::-1]
        assert bodies(comments(auth, discussed, {"sort_order": "asc", "include_inline_images": "true"})[2]) == EVERY

    def test_offset_pages(self, auth, discussed):
        status, _, body = comments(auth, discussed, {"per_page": "3", "page": "2"})
        assert status == 200 and bodies(body) == EVERY[3:] and body["count"] == 4 and body["next_page"] is None
        assert body["previous_page"] == \
            f"https://automations.example.com/api/v2/tickets/{discussed}/comments.json?per_page=3&page=1"
        assert bodies(comments(auth, discussed, {"per_page": "3", "sort_order": "desc"})[2]) == EVERY[::-1][:3]

    @pytest.mark.parametrize("order", ["asc", "desc"])
    @pytest.mark.parametrize("scan", [1000, 2])  # 2: pages come back short among changes without a comment
    def test_cursor_pages_forward_and_back(self, auth, discussed, monkeypatch, order, scan):
        from automations.service import tickets

        monkeypatch.setattr(tickets, "COMMENT_SCAN", scan)
        expected = EVERY if order == "asc" else EVERY[::-1]
        pages = cursor_pages(lambda query: comments(auth, discussed, query), {"page[size]": "2", "sort_order": order})
        assert all("count" not in page and len(page["comments"]) <= 2 for page in pages)
        assert all(page["links"]["next"].startswith(
            f"https://automations.example.com/api/v2/tickets/{discussed}/comments.json?") for page in pages[:-1])
        assert [b for page in pages for b in bodies(page)] == expected
        last = [p for p in pages if p["comments"]][-1]  # back from the last page that shows any
        earlier = cursor_pages(lambda query: comments(auth, discussed, query),
                               {"page[size]": "2", "sort_order": order, "page[before]": last["meta"]["before_cursor"]},
                               toward="before")
        assert [b for page in reversed(earlier) for b in bodies(page)] + bodies(last) == expected

    def test_whole_pages_without_a_scan_limit(self, auth, discussed):
        first = comments(auth, discussed, {"page[size]": "3"})[2]
        assert bodies(first) == EVERY[:3] and first["meta"]["has_more"] is True
        rest = comments(auth, discussed, {"page[size]": "3", "page[after]": first["meta"]["after_cursor"]})[2]
        assert bodies(rest) == EVERY[3:] and rest["meta"]["has_more"] is False
        exact = comments(auth, discussed, {"page[size]": "4"})[2]
        assert bodies(exact) == EVERY and exact["meta"]["has_more"] is False

    @pytest.mark.parametrize("position, after, before", [
        ("A", EVERY, []), ("AUDIT#", EVERY, []), ("AUDIT$", [], EVERY), ("~", [], EVERY)])
    def test_cursors_beyond_every_audit(self, auth, discussed, position, after, before):
        cursor = encode_cursor([position])
        assert bodies(comments(auth, discussed, {"page[after]": cursor})[2]) == after
        assert bodies(comments(auth, discussed, {"page[before]": cursor})[2]) == before

    @pytest.mark.parametrize("query, error", [
        ({"sort_order": "sideways"}, "InvalidValue"), ({"sort_order": ""}, "InvalidValue"),
        ({"include_inline_images": "maybe"}, "InvalidValue"),
        ({"page[size]": "0"}, "InvalidPaginationParameter"), ({"page[size]": "101"}, "InvalidPaginationParameter"),
        ({"page[after]": "!!!"}, "InvalidPaginationParameter"),
        ({"page[after]": "WzFd"}, "InvalidPaginationParameter"),  # [1]: a cursor of the tickets listing
        ({"page[before]": encode_cursor(["x" * 65])}, "InvalidPaginationParameter"),
        ({"page[after]": "WzFd", "page[before]": "WzFd"}, "InvalidPaginationParameter"),
        ({"page": "0"}, "InvalidPaginationParameter"), ({"per_page": "-2"}, "InvalidPaginationParameter"),
        ({"page[size]": "2", "page": "x"}, "InvalidPaginationParameter"),
    ])
    def test_bad_parameters(self, auth, discussed, query, error):
        status, _, body = comments(auth, discussed, query)
        assert (status, body["error"]) == (400, error)

    @pytest.mark.parametrize("raw_id", ["999", "999.json", "abc", "-1", "9" * 30])
    def test_unknown_or_malformed_ids(self, auth, discussed, raw_id):
        event = http_event("GET", f"/api/v2/tickets/{raw_id}/comments", route="/api/v2/tickets/{id}/comments",
                           path_params={"id": raw_id}, authorization=auth)
        assert invoke("zendesk_list_ticket_comments", event)[0::2] == (404, NOT_FOUND)

    def test_deleted_foreign_and_unauthenticated(self, auth, discussed):
        from automations.bootstrap import services

        other, key = services().accounts.create_account("Other", "other@else.test")
        assert comments(basic_auth(other.email, key), discussed)[0::2] == (404, NOT_FOUND)
        assert comments(basic_auth(other.email, key), discussed, {"page[size]": "2"})[0::2] == (404, NOT_FOUND)
        assert comments("Bearer nope", discussed)[0::2] == (401, {"error": "Couldn't authenticate you"})
        on_ticket("zendesk_delete_ticket", "DELETE", auth, discussed)
        assert comments(auth, discussed)[0::2] == (404, NOT_FOUND)
        assert comments(auth, discussed, {"page[size]": "2"})[0::2] == (404, NOT_FOUND)


class TestTags:
    def test_the_tickets_tags(self, auth):
        ticket_id = create(auth, tags=["Printer", "fire"])[2]["ticket"]["id"]
        assert tags(auth, ticket_id) == (200, {"Content-Type": "application/json; charset=utf-8"},
                                         {"tags": ["printer", "fire"]})
        update(auth, ticket_id, remove_tags=["fire"])
        assert tags(auth, ticket_id)[2] == {"tags": ["printer"]}
        assert tags(auth, create(auth)[2]["ticket"]["id"])[2] == {"tags": []}

    @pytest.mark.parametrize("raw_id", ["999", "abc", "-1", "9" * 30])
    def test_unknown_or_malformed_ids(self, auth, raw_id):
        event = http_event("GET", f"/api/v2/tickets/{raw_id}/tags", route="/api/v2/tickets/{id}/tags",
                           path_params={"id": raw_id}, authorization=auth)
        assert invoke("zendesk_list_ticket_tags", event)[0::2] == (404, NOT_FOUND)

    def test_deleted_foreign_and_unauthenticated(self, auth):
        from automations.bootstrap import services

        ticket_id = create(auth, tags=["secret"])[2]["ticket"]["id"]
        other, key = services().accounts.create_account("Other", "other@else.test")
        assert tags(basic_auth(other.email, key), ticket_id)[0::2] == (404, NOT_FOUND)
        assert tags("Bearer nope", ticket_id)[0] == 401
        on_ticket("zendesk_delete_ticket", "DELETE", auth, ticket_id)
        assert tags(auth, ticket_id)[0::2] == (404, NOT_FOUND)
