"""Decoding form-encoded Piggy requests the way the official PHP SDK encodes them
(http_build_query: ``data[key]=value``, nested brackets, lists as 0..n-1)."""
from urllib.parse import quote, urlencode

import pytest
from hypothesis import given, strategies as st

from automations.errors import MalformedRequest
from automations.surfaces.piggy import MAX_NESTING, decode_form


def http_build_query(value, prefix=""):
    """PHP's http_build_query, for the round trip."""
    items = enumerate(value) if isinstance(value, list) else value.items()
    pairs = []
    for key, item in items:
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(item, (dict, list)):
            pairs.append(http_build_query(item, name))
        else:
            pairs.append(f"{quote(name)}={quote(str(item))}")
    return "&".join(p for p in pairs if p)


def decode(text: str):
    return decode_form(text.encode())


@pytest.mark.parametrize("text, expected", [
    ("contact_uuid=a&automation_uuid=b", {"contact_uuid": "a", "automation_uuid": "b"}),
    ("data[code]=X%201&data[n]=5", {"data": {"code": "X 1", "n": "5"}}),
    ("data%5Bcode%5D=X+1", {"data": {"code": "X 1"}}),
    ("data[a][b][c]=deep", {"data": {"a": {"b": {"c": "deep"}}}}),
    ("data[]=x&data[]=y", {"data": ["x", "y"]}),
    ("data[0]=x&data[1]=y", {"data": ["x", "y"]}),
    ("data[1]=x&data[0]=y", {"data": {"1": "x", "0": "y"}}),  # not in order: keys, as PHP keeps them
    ("data[tags][]=a&data[tags][]=b&data[name]=n", {"data": {"tags": ["a", "b"], "name": "n"}}),
    ("data[x]=1&data[x]=2", {"data": {"x": "2"}}),  # the later value wins
    ("data=plain&data[x]=1", {"data": {"x": "1"}}),
    ("data[x]=1&data=plain", {"data": "plain"}),
    ("data[open=1", {"data[open": "1"}),  # brackets that do not close name the field as written
    ("[x]=1", {"[x]": "1"}),
    ("empty=&flag", {"empty": "", "flag": ""}),
    ("", {}),
])
def test_decoding(text, expected):
    assert decode(text) == expected


def test_nesting_is_bounded():
    assert decode("data" + "[a]" * MAX_NESTING + "=1")["data"]
    with pytest.raises(MalformedRequest):
        decode("data" + "[a]" * (MAX_NESTING + 1) + "=1")


def test_invalid_utf8_is_refused():
    with pytest.raises(MalformedRequest):
        decode_form(b"data[x]=%ff")


@pytest.mark.parametrize("text", ["data[x]=a%00b", "data[a%00]=1"])
def test_nul_characters_are_refused(text):
    """They cannot be rendered into an email or a webhook call (docs/design.md: limits on input)."""
    with pytest.raises(MalformedRequest):
        decode(text)


keys = st.text(st.characters(codec="utf-8", exclude_characters="[]\x00"), min_size=1, max_size=6).filter(
    lambda k: not k.isdigit())
scalars = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8)
values = st.recursive(scalars, lambda inner: st.lists(inner, min_size=1, max_size=3)
                      | st.dictionaries(keys, inner, min_size=1, max_size=3), max_leaves=10)


@given(st.dictionaries(keys, values, min_size=1, max_size=3))
def test_what_the_sdk_encodes_decodes_to_the_same(data):
    assert decode(http_build_query({"data": data})) == {"data": data}


def test_urlencode_of_a_flat_body():
    body = {"contact_uuid": "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f", "automation_uuid": "x"}
    assert decode(urlencode(body)) == body
