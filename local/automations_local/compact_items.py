"""DynamoDB items held in less memory by moto (issue 28), installed with the other patches.

moto holds an item as an ``Item`` whose attributes are a dict of ``DynamoType`` objects, each
with its own strings. Measured with tracemalloc on 2,000 items shaped as the product's (a run:
the keys of the table and two indexes, a status, a version, an expiry, its JSON document), an
item built and saved took 6.7 times its size as DynamoDB counts it; now 3.5 (2.8 restored):

- pickling an object (each item saved) or unpickling it (each item restored) asked for its
  ``__dict__``, which Python then keeps as a dict of its own next to the attributes it holds
  inline: items and their values now give and take the same state without it (files of
  earlier versions load, and earlier versions load these);
- each item held its own copy of every attribute name and of every value, as decoded from the
  request that wrote it: names and short values (keys, statuses, numbers) are interned, one
  string for every item that holds it (Python frees an interned string no longer used);
- each item held its key twice, as its key and as its key attributes, each with its strings:
  once now (a key attribute never changes)."""
from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

Replace = Callable[[object, str, Any], None]  # patches' own: remembers the original for uninstall
_VALUE_STATE = ("type", "value")
_ITEM_STATE = ("hash_key", "range_key", "attrs")
INTERNED_UP_TO = 128  # characters of a string value held once for every item (a key, a status, a number)


def install(replace: Replace) -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
    from moto.dynamodb.models.table import Table

    for cls, names in ((DynamoType, _VALUE_STATE), (Item, _ITEM_STATE)):
        replace(cls, "__getstate__", _state_of(names))
        replace(cls, "__setstate__", _set_state)
    replace(LimitedSizeDict, "__setitem__", _interning(LimitedSizeDict.__setitem__))
    replace(Table, "put_item", _keys_held_once(Table.put_item))


def _state_of(names: tuple[str, ...]) -> Callable[[Any], dict]:
    def state(value: Any) -> dict:
        return {name: getattr(value, name) for name in names}

    return state


def _set_state(value: Any, state: dict) -> None:
    for name, attribute in state.items():
        setattr(value, name, attribute)


def _interning(set_item: Callable) -> Callable:
    def set_interned(attributes: dict, name: str, value: Any) -> None:
        held = value.value
        if type(held) is str and len(held) <= INTERNED_UP_TO:
            value.value = sys.intern(held)
        set_item(attributes, sys.intern(name), value)

    return set_interned


def _keys_held_once(put_item: Callable) -> Callable:
    """moto's put, then the item's key attributes held by the very values that are its key (moto
    made two equal copies of each; a key attribute never changes)."""
    def put(table: Any, *args: Any, **kwargs: Any) -> Any:
        item = put_item(table, *args, **kwargs)
        for key, name in ((item.hash_key, table.hash_key_attr), (item.range_key, table.range_key_attr)):
            if key is not None:
                key.value = item.attrs[name].value  # the same, interned
                dict.__setitem__(item.attrs, name, key)  # the item's size is unchanged
        return item

    return put
