import pytest

from automations.errors import MalformedRequest
from automations.paging import cursor_page, decode_cursor, encode_cursor, offset_page

ITEMS = list(range(1, 24))


def key(i):
    return [i]


def test_cursor_round_trip_is_opaque_and_url_safe():
    cursor = encode_cursor(["Title with spaces/and+signs", 3])
    assert all(c.isalnum() or c in "-_" for c in cursor)
    assert decode_cursor(cursor) == ["Title with spaces/and+signs", 3]


@pytest.mark.parametrize("bad", ["%%%", "bm90IGpzb24", "eyJhIjogMX0", ""])
def test_bad_cursors(bad):
    with pytest.raises(MalformedRequest):
        decode_cursor(bad)


@pytest.mark.parametrize("descending", [False, True])
def test_walking_forward_then_back_visits_everything_once(descending):
    items = sorted(ITEMS, reverse=descending)
    seen, after = [], None
    while True:
        page = cursor_page(items, key, 5, descending=descending, after=after)
        seen += page.items
        if not page.has_more:
            break
        after = page.after_cursor
    assert seen == items
    back = cursor_page(items, key, 5, descending=descending, before=page.before_cursor)
    assert back.items == items[-8:-3] and back.has_more


def test_cursor_survives_deletion_of_the_item_it_points_at():
    page = cursor_page(ITEMS, key, 5)
    remaining = [i for i in ITEMS if i != 5]
    assert cursor_page(remaining, key, 5, after=page.after_cursor).items == [6, 7, 8, 9, 10]


def test_cursor_of_another_sort_is_refused():
    with pytest.raises(MalformedRequest):
        cursor_page(ITEMS, key, 5, after=encode_cursor(["text"]))


def test_empty_page_has_no_cursors():
    page = cursor_page([], key, 5)
    assert (page.items, page.has_more, page.after_cursor, page.before_cursor) == ([], False, None, None)


def test_offset_pages():
    page = offset_page(ITEMS, 3, 10)
    assert page.items == [21, 22, 23] and page.count == 23 and not page.has_next and page.has_previous
    assert offset_page(ITEMS, 1, 10).has_next and not offset_page(ITEMS, 1, 10).has_previous
