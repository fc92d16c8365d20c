"""Zendesk's brands: the account's one default brand, read-only."""
import pytest
from support import basic_auth, http_event, invoke

NOT_FOUND = {"error": "RecordNotFound", "description": "Not found"}
BRAND_KEYS = ["url", "id", "name", "brand_url", "subdomain", "host_mapping", "has_help_center", "help_center_state",
              "active", "default", "is_deleted", "logo", "ticket_form_ids", "signature_template", "created_at",
              "updated_at"]


def brands(auth, query=None):
    return invoke("zendesk_list_brands", http_event("GET", "/api/v2/brands.json", query=query, authorization=auth))


def brand(auth, raw_id):
    return invoke("zendesk_show_brand", http_event("GET", f"/api/v2/brands/{raw_id}", route="/api/v2/brands/{id}",
                                                   path_params={"id": raw_id}, authorization=auth))


def test_the_default_brand(account):
    acct, _, auth = account
    status, _, body = brand(auth, "1.json")
    assert status == 200 and list(body["brand"]) == BRAND_KEYS
    b = body["brand"]
    assert (b["id"], b["name"], b["subdomain"], b["default"], b["active"]) == (1, "Acme Support", "acme-support",
                                                                               True, True)
    assert b["url"] == "https://automations.example.com/api/v2/brands/1.json" and b["ticket_form_ids"] == [1]
    assert b["created_at"] == acct.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert brands(auth)[2] == {"brands": [b], "next_page": None, "previous_page": None, "count": 1}
    cursor = brands(auth, {"page[size]": "100"})[2]
    assert cursor["brands"] == [b] and cursor["meta"]["has_more"] is False


@pytest.mark.parametrize("raw_id", ["2", "0", "abc", "-1", "1.xml", "9" * 30])
def test_other_ids_are_not_found(account, raw_id):
    assert brand(account[2], raw_id)[0::2] == (404, NOT_FOUND)


@pytest.mark.parametrize("query", [{"page[size]": "0"}, {"page[size]": "101"}, {"page[after]": "!!"},
                                   {"page": "0"}, {"per_page": "x"}])
def test_bad_pagination(account, query):
    status, _, body = brands(account[2], query)
    assert (status, body["error"]) == (400, "InvalidPaginationParameter")


def test_each_account_its_own_and_unauthenticated(account):
    from automations.bootstrap import services

    other, key = services().accounts.create_account("Other & Co", "other@else.test")
    assert brand(basic_auth(other.email, key), "1")[2]["brand"]["name"] == "Other & Co"
    assert brand(basic_auth(other.email, key), "1")[2]["brand"]["subdomain"] == "other-co"
    assert brand("Bearer nope", "1")[0] == 401 and brands("Bearer nope")[0] == 401
