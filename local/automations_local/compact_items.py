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
  request that wrote it: names are interned, and a value (a string of at most SHARED_UP_TO
  characters, a number, a boolean, a null) is the very object of the same value written
  recently to the same attribute name, if any (the last SHARED_PER_NAME each name kept), so
  that statuses, versions, index partition keys and the like are held once for many items.
  Only values nothing changes in place are shared (moto changes lists, maps and sets in place,
  never these). Interning every value instead (as this did before) kept each unique one (a
  sort key, a time) in Python's table of interned strings too, which grew with the items: 40
  bytes and more for each, in steps of megabytes;
- each item held its key twice, as its key and as its key attributes, each with its strings:
  once now (a key attribute never changes);
- each item held its own copy of its partition's key (moto's dict of partitions holds its
  first item's) and, when it replaced an item, of its sort key (the partition's dict holds the
  replaced item's): the items of a partition share the one their table holds, as a replacing
  item shares its sort key (a soak's items: 2,400 in 580 partitions);

The saved form of an item is unchanged: values an item shares with other items are its own in
each item's pickle (files of earlier versions load, and earlier versions load these)."""
from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

Replace = Callable[[object, str, Any], None]  # patches' own: remembers the original for uninstall
_VALUE_STATE = ("type", "value")
_ITEM_STATE = ("hash_key", "range_key", "attrs")
SHARED_UP_TO = 128  # characters of a string value items may share (a key, a status; not a document)
SHARED_PER_NAME = 128  # values of each attribute name kept to be shared, the most recently written
SHARED_NAMES = 1024  # attribute names whose values are kept; past it, all are forgotten
_SHARED_TYPES = ("S", "N", "BOOL", "NULL")  # those nothing changes in place
_recent: dict[str, dict[tuple[str, Any], Any]] = {}  # attribute name -> (type, value) -> its value object


def install(replace: Replace) -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
    from moto.dynamodb.models.table import Table

    for cls, names in ((DynamoType, _VALUE_STATE), (Item, _ITEM_STATE)):
        replace(cls, "__getstate__", _state_of(names))
        replace(cls, "__setstate__", _set_state)
    _recent.clear()
    replace(LimitedSizeDict, "__setitem__", _sharing(LimitedSizeDict.__setitem__))
    replace(Table, "put_item", _keys_held_once(Table.put_item))


def place(table: Any, item: Any) -> None:
    """Put ``item`` (restored, or put back) in ``table`` as moto would, sharing its keys as put items do."""
    hash_key, range_key = _held_keys(table, item.hash_key, item.range_key)
    _hold(table, item, hash_key, range_key)
    if table.range_key_attr:
        table.items[item.hash_key][item.range_key] = item
    else:
        table.items[item.hash_key] = item


def _state_of(names: tuple[str, ...]) -> Callable[[Any], dict]:
    def state(value: Any) -> dict:
        return {name: getattr(value, name) for name in names}

    return state


def _set_state(value: Any, state: dict) -> None:
    for name, attribute in state.items():
        setattr(value, name, attribute)


def _sharing(set_item: Callable) -> Callable:
    def set_shared(attributes: dict, name: str, value: Any) -> None:
        name, held = sys.intern(name), value.value
        if value.type in _SHARED_TYPES and (type(held) is bool or (type(held) is str and len(held) <= SHARED_UP_TO)):
            recent = _recent.get(name)
            if recent is None:
                if len(_recent) >= SHARED_NAMES:
                    _recent.clear()
                recent = _recent[name] = {}
            key = (value.type, held)
            shared = recent.pop(key, None)
            if shared is not None:
                value = shared
            elif len(recent) >= SHARED_PER_NAME:
                del recent[next(iter(recent))]  # the least recently written
            recent[key] = value
        set_item(attributes, name, value)

    return set_shared


def _keys_held_once(put_item: Callable) -> Callable:
    """moto's put, then the item's key attributes held by the very values that are its key (moto
    made two equal copies of each; a key attribute never changes), those its table holds."""
    def put(table: Any, *args: Any, **kwargs: Any) -> Any:
        attributes = args[0] if args else kwargs.get("item_attrs")
        held = _held_keys(table, *_key_of(table, attributes))
        item = put_item(table, *args, **kwargs)
        _hold(table, item, *held)
        return item

    return put


def _key_of(table: Any, attributes: Any) -> tuple[Any, Any]:
    """The key a put names, or Nones for one moto refuses (it says why)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    try:
        names = (table.hash_key_attr, table.range_key_attr) if table.range_key_attr else (table.hash_key_attr,)
        key = [DynamoType(attributes[name]) for name in names]
        hash(tuple(key))  # a number that is not one is refused by moto, not here
    except Exception:  # noqa: BLE001 - moto refuses the put itself, with its own error
        return None, None
    return key[0], (key[1] if len(key) > 1 else None)


def _held_keys(table: Any, hash_key: Any, range_key: Any) -> tuple[Any, Any]:
    """The key objects the table already holds for this key (None where it holds none): the
    partition's (any of its items holds it) and, for an item there already, its sort key."""
    if hash_key is None:
        return None, None
    if not table.range_key_attr:
        present = table.items.get(hash_key)
        return (present.hash_key if present is not None else None), None
    partition = table.items.get(hash_key)
    if not partition:
        return None, None
    present = partition.get(range_key)
    return next(iter(partition.values())).hash_key, (present.range_key if present is not None else None)


def _hold(table: Any, item: Any, hash_key: Any, range_key: Any) -> None:
    """The item's key and key attributes held by one value object each: ``hash_key`` and
    ``range_key`` when they are the same text (a number is also equal to another text of it,
    "1" and "01"), else the item's own."""
    for slot, name, held in (("hash_key", table.hash_key_attr, hash_key), ("range_key", table.range_key_attr, range_key)):
        own = getattr(item, slot)
        if own is None:
            continue
        attribute = item.attrs[name]
        if held is None or held.type != attribute.type or held.value != attribute.value:
            held = own
            own.value = attribute.value  # the same text, its string held once
        setattr(item, slot, held)
        dict.__setitem__(item.attrs, name, held)  # the item's size is unchanged
