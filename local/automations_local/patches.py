"""Narrow patches installed while the local runtime runs, where the libraries it runs in one
process assume one request per process, or copy more than they need:

- Powertools' resolvers keep the current event and Lambda context on a class shared by every
  resolver of the process: each thread (one invocation of one sandbox) gets its own, as each
  Lambda sandbox has;

- EventBridge stamps events on the runtime's clock, as every other part of the product reads
  it (moto stamps real time: a bus event sent while the clock was set elsewhere was taken as
  arriving at another time than the one the rest of the world lives in);
- TransactWriteItems snapshots only the items it touches for its rollback; moto deep-copies
  each named table, once per item of the transaction (at 10,000 items: seconds and gigabytes);
- Query reads only the items of its partition: moto sorts and filters every item of the table
  on every Query (the hour's upkeep's 80 empty-shard queries read a 100,000-ticket table 80
  times). Index partitions are mapped once, then kept up to date item by item as items are
  written (rebuilt only after a table-level change): a Query of an index between two writes
  read the whole table again (creating 10,000 tickets, each looking its requester up by email,
  read 50 million items);
- a Query of a large partition with a condition on its (string) sort key reads only the
  items in the condition's range: each partition queried is kept sorted, item by item as items
  are written (moto sized every item of the partition: listing an account's automations read
  its 100,000 tickets, 6 s a page);
- every item write is announced to listeners (``on_item_write``): the index maps, the saved
  state's journal, the local TTL;
- a GetItem or DeleteItem of a missing item leaves no empty partition behind (moto's table is a
  defaultdict: each such read added one for good), nor does deleting a partition's last item;
- what moto's DynamoDB redid for every item is done once (moto_shortcuts.py: conditions and
  update expressions parsed once, scalar values written as held);
- moto's server lists its package's folders on disk, and each response class's methods, once
  instead of at every request (a fifth of a GetItem's time);
- moto keeps what AWS does not: every object of its models ever made (each copy of a DynamoDB
  item a request made included: about 40 items for each one stored, a third of a megabyte a
  cycle of use; for its dashboard, which the runtime does not serve) is no longer tracked;
  every mail and text message sent (for its own tests), and the
  receipt handle of every SQS message ever deleted (so that a second delete succeeds). Only the
  last SENT_KEPT messages (the outbox shows them) and DELETED_RECEIPTS_KEPT handles a queue are
  kept;
- SQS checks a received message's retention against the queue's own setting: moto computes
  every queue attribute, message counts included, three times for each message it hands out
  (with 10,000 runs queued, most of the scale benchmark's time)."""
from __future__ import annotations

import bisect
import contextvars
import copy
import functools
import itertools
import threading
from collections.abc import Callable, Iterator
from typing import Any

from automations.clock import Clock
from automations_local import compact_items, moto_shortcuts

_sharing_tables = contextvars.ContextVar("automations_local_sharing_tables", default=False)
_originals: dict[tuple[object, str], Any] = {}


_invocation = threading.local()  # the resolver state of the invocation this thread runs
_partition = threading.local()  # the items of the partition the Query this thread runs reads
_table_changes = [0]  # table-level changes so far: an index's map of partitions is rebuilt after one
_index_maps: dict[tuple[int, str], _IndexMap] = {}  # (id(table), attribute) -> its map
_sorted_partitions: dict[tuple[int, Any], _SortedPartition] = {}  # (id(table), hash key) -> its sort keys
SORTED_FROM = 64  # items a partition has before a Query narrows it by its sort key
# What changes tables other than item by item (PartiQL included: its writes are not followed).
_TABLE_CHANGES = ("create_table", "delete_table", "update_table", "restore_table_from_backup", "import_table",
                  "execute_statement", "batch_execute_statement", "execute_transaction")
ItemListener = Callable[[Any, Any, Any], None]  # (moto Table, hash key, range key or None)
_item_listeners: list[ItemListener] = []
SENT_KEPT = 1000  # mail and texts moto keeps, the most recent (what the outbox shows)
DELETED_RECEIPTS_KEPT = 1000  # receipt handles of deleted messages a queue keeps, the most recent
_SES_SENDS = ("send_email", "send_raw_email", "send_templated_email", "send_bulk_templated_email")


def install(clock: Clock) -> None:
    from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
    from moto import backends
    from moto.core import responses
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table
    from moto.core.common_models import BaseModel
    from moto.core.model_instances import reset_model_data
    from moto.events import models as events
    from moto.ses.models import SESBackend
    from moto.sns.models import SNSBackend
    from moto.sqs.models import Queue, SQSBackend

    def unix_time(dt: Any = None) -> float:
        return dt.timestamp() if dt is not None else clock.now().timestamp()

    _replace(events, "unix_time", unix_time)
    _replace(ApiGatewayResolver, "_to_proxy_event", _keeping("event", ApiGatewayResolver._to_proxy_event))
    _replace(ApiGatewayResolver, "resolve", _resolving(ApiGatewayResolver.resolve))
    for name, slot in (("current_event", "event"), ("lambda_context", "context")):
        _replace(ApiGatewayResolver, name, property(lambda resolver, slot=slot: getattr(_invocation, slot, None),
                                                    lambda resolver, value, slot=slot: setattr(_invocation, slot, value)))
    _replace(Table, "__deepcopy__", _deepcopy_table)
    _replace(DynamoDBBackend, "transact_write_items", _transact_write_items(DynamoDBBackend.transact_write_items))
    for name in _TABLE_CHANGES:
        _replace(DynamoDBBackend, name, _counted(getattr(DynamoDBBackend, name)))
    compact_items.install(_replace)  # first: a put is announced with the key objects its item keeps
    _replace(Table, "put_item", _announced_put(Table.put_item))
    _replace(Table, "delete_item", _announced_delete(Table.delete_item))
    _replace(Table, "get_item", _get_without_adding(Table.get_item))
    _replace(DynamoDBBackend, "update_item", _announced_update(DynamoDBBackend.update_item))
    _item_listeners.append(_follow_index_maps)
    _replace(SQSBackend, "is_message_valid_based_on_retention_period", _retained)
    for name in _SES_SENDS:
        _replace(SESBackend, name, _keeping_the_last(getattr(SESBackend, name), "sent_messages"))
    _replace(SNSBackend, "publish", _keeping_the_last(SNSBackend.publish, "sms_messages"))
    _replace(Queue, "delete_message", _forgetting_old_receipts(Queue.delete_message))
    _replace(BaseModel, "__new__", staticmethod(_untracked))
    reset_model_data()  # what was tracked before
    _replace(Table, "query", _partition_query(Table.query))
    _replace(Table, "all_items", _narrowed_items(Table.all_items))
    # Asked again on every request: the folders of moto's package, a response class's methods.
    modules = backends.list_of_moto_modules
    _replace(backends, "list_of_moto_modules", functools.cache(lambda: list(modules())))
    _replace(responses, "method_names_from_class", functools.cache(responses.method_names_from_class))
    moto_shortcuts.install(_replace)


def uninstall() -> None:
    for (owner, name), original in _originals.items():
        if original is None:
            delattr(owner, name)
        else:
            setattr(owner, name, original)
    _originals.clear()
    _index_maps.clear()
    _sorted_partitions.clear()
    _item_listeners.clear()


def on_item_write(listener: ItemListener) -> Callable[[], None]:
    """Call ``listener(table, hash_key, range_key)`` after each item written (put, updated,
    deleted, or put back by a transaction's rollback), inside the AWS call; returns its removal."""
    _item_listeners.append(listener)
    return lambda: _item_listeners.remove(listener) if listener in _item_listeners else None


def _announce(table: Any, hash_key: Any, range_key: Any) -> None:
    for listener in list(_item_listeners):
        listener(table, hash_key, range_key)


def _retained(backend: Any, queue_name: str, message: Any) -> bool:
    """moto's retention check (retained until sent + MessageRetentionPeriod, on moto's time)."""
    from moto.sqs import models as sqs

    retention_s = int(backend.get_queue(queue_name).message_retention_period)
    return retention_s + message.sent_timestamp / 1000 > sqs.unix_time()


def _untracked(cls: type, *args: Any, **kwargs: Any) -> Any:
    """moto's BaseModel.__new__, without appending the new object to its class's list."""
    from moto.core.common_models import BaseModel

    return super(BaseModel, cls).__new__(cls)


def _keeping_the_last(send: Callable, attribute: str) -> Callable:
    """``send``, then the backend's list (or ordered dict) of what was sent cut to its last SENT_KEPT."""
    def send_and_forget_the_oldest(backend: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return send(backend, *args, **kwargs)
        finally:
            sent = getattr(backend, attribute)
            excess = len(sent) - SENT_KEPT
            if isinstance(sent, list):
                del sent[:max(0, excess)]
            else:
                for _ in range(excess):
                    sent.popitem(last=False)

    return send_and_forget_the_oldest


class RecentReceipts(dict):
    """A queue's receipt handles of deleted messages (a set to moto): the last DELETED_RECEIPTS_KEPT."""

    def update(self, handles: Any) -> None:  # what moto calls as on a set
        for handle in handles:
            self[handle] = None
        for handle in list(itertools.islice(self, max(0, len(self) - DELETED_RECEIPTS_KEPT))):
            del self[handle]


def _forgetting_old_receipts(delete_message: Callable) -> Callable:
    def delete(queue: Any, receipt_handle: str) -> None:
        if not isinstance(queue.deleted_messages, RecentReceipts):
            queue.deleted_messages = RecentReceipts.fromkeys(queue.deleted_messages)
        return delete_message(queue, receipt_handle)

    return delete


def _replace(owner: object, name: str, value: Any) -> None:
    _originals.setdefault((owner, name), vars(owner).get(name))
    setattr(owner, name, value)


def _keeping(slot: str, to_proxy_event: Callable) -> Callable:
    def keep(resolver: Any, event: dict) -> Any:
        proxy = to_proxy_event(resolver, event)
        setattr(_invocation, slot, proxy)  # what Powertools also puts on the shared class
        return proxy

    return keep


def _resolving(resolve: Callable) -> Callable:
    def with_own_context(resolver: Any, event: dict, context: Any) -> Any:
        _invocation.context = context
        return resolve(resolver, event, context)

    return with_own_context


def _deepcopy_table(table: Any, memo: dict) -> Any:
    """Inside a transaction, the table itself (its touched items are saved one by one);
    elsewhere, the ordinary deep copy."""
    if _sharing_tables.get():
        return table
    duplicate = type(table).__new__(type(table))
    memo[id(table)] = duplicate
    duplicate.__dict__.update(copy.deepcopy(table.__dict__, memo))
    return duplicate


def _transact_write_items(original: Callable) -> Callable:
    def transact_write_items(backend: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = _touched_items(backend, transact_items)
        sharing = _sharing_tables.set(True)
        try:
            original(backend, transact_items)
        except BaseException:
            _restore(saved)
            raise
        finally:
            _sharing_tables.reset(sharing)

    return transact_write_items


def _touched_items(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple]:
    """(table, hash key, range key, a copy of the item or None, stream length) per item a
    transaction names; an operation moto will refuse (no such table, a bad key) touches nothing."""
    saved = []
    for entry in transact_items:
        for kind, operation in entry.items():
            if not isinstance(operation, dict):
                continue
            table = backend.tables.get(operation.get("TableName"))
            attributes = operation.get("Item") if kind == "Put" else operation.get("Key")
            if table is None or not isinstance(attributes, dict):
                continue
            try:
                hash_key, range_key = backend.get_keys_value(table, attributes)
            except Exception:  # moto refuses it itself, before writing anything
                continue
            item = table.get_item(hash_key, range_key) if bool(range_key) == table.has_range_key else None
            stream = len(table.stream_shard.items) if table.stream_shard is not None else None
            saved.append((table, hash_key, range_key, copy.deepcopy(item), stream))
    return saved


def _restore(saved: list[tuple]) -> None:
    """Put back each touched item as it was (the first copy taken of it), in reverse."""
    for table, hash_key, range_key, item, stream in reversed(saved):
        if item is None:
            partition = table.items[hash_key] if range_key else table.items
            partition.pop(range_key if range_key else hash_key, None)
        else:
            compact_items.place(table, item)
        if stream is not None:
            del table.stream_shard.items[stream:]
        _announce(table, hash_key, range_key or None)


def _counted(change: Callable) -> Callable:
    def counted(backend: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return change(backend, *args, **kwargs)
        finally:
            _table_changes[0] += 1  # also when refused: it may have changed something first

    return counted


def _announced_put(put_item: Callable) -> Callable:
    def put(table: Any, *args: Any, **kwargs: Any) -> Any:
        item = put_item(table, *args, **kwargs)
        _announce(table, item.hash_key, item.range_key)
        return item

    return put


def _announced_delete(delete_item: Callable) -> Callable:
    def delete(table: Any, hash_key: Any, range_key: Any) -> Any:
        item = delete_item(table, hash_key, range_key)
        if range_key and not table.items.get(hash_key, True):
            del table.items[hash_key]  # its last item (or a missing one, which moto's defaultdict added)
        if item is not None:
            _announce(table, hash_key, range_key)
        return item

    return delete


def _get_without_adding(get_item: Callable) -> Callable:
    def get(table: Any, hash_key: Any, range_key: Any = None, *args: Any, **kwargs: Any) -> Any:
        if range_key and table.range_key_attr and hash_key not in table.items:
            return None
        return get_item(table, hash_key, range_key, *args, **kwargs)

    return get


def _announced_update(update_item: Callable) -> Callable:
    """moto changes the item in place, so it is announced whatever happened (a condition that
    failed changed nothing: announcing it costs a look at an unchanged item)."""
    def update(backend: Any, table_name: str, key: dict, *args: Any, **kwargs: Any) -> Any:
        try:
            return update_item(backend, table_name, key, *args, **kwargs)
        finally:
            try:
                table = backend.get_table(table_name)
                hash_key, range_key = backend.get_keys_value(table, key)
            except Exception:  # noqa: BLE001 - refused before touching any item
                pass
            else:
                item = table.get_item(hash_key, range_key)
                if item is not None:  # the listeners keep its own key objects, not the request's
                    hash_key, range_key = item.hash_key, item.range_key
                _announce(table, hash_key, range_key)

    return update


_QUERY_ARGUMENTS = ("range_comparison", "range_objs", "limit", "exclusive_start_key", "scan_index_forward",
                    "projection_expressions", "index_name")  # moto's Table.query, after the hash key


def _partition_query(query: Callable) -> Callable:
    """moto's Query, over the items of its partition only, in its sort key's range when it has a
    condition on it (moto's own filtering still applies to them)."""
    def partition_query(table: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        named = dict(zip(_QUERY_ARGUMENTS, args)) | kwargs
        items = _partition_items(table, hash_key, named.get("index_name"), named.get("hash_key_conditions"), named)
        if items is None:
            return query(table, hash_key, *args, **kwargs)
        _partition.table, _partition.items = table, items
        try:
            return query(table, hash_key, *args, **kwargs)
        finally:
            _partition.table = _partition.items = None

    return partition_query


def _narrowed_items(all_items: Callable) -> Callable:
    def narrowed(table: Any) -> list:
        if getattr(_partition, "table", None) is table:
            return list(_partition.items)
        return all_items(table)

    return narrowed


def _partition_items(table: Any, hash_key: Any, index_name: str | None, conditions: list | None,
                     query: dict | None = None) -> list | None:
    """The items whose partition key is the Query's (on the table, only those its sort key
    condition, start key and limit let it read); None for a Query this cannot tell."""
    if index_name is None:
        if hash_key is None:
            return None
        found = table.items.get(hash_key)
        if found is None:
            return []
        if not table.range_key_attr:
            return [found]
        if query and table.range_key_type == "S" and len(found) >= SORTED_FROM:
            key = (id(table), hash_key)
            partition = _sorted_partitions.get(key)
            if partition is None or partition.table is not table or partition.built_at != _table_changes[0]:
                partition = _sorted_partitions[key] = _SortedPartition(table, hash_key)
            window = partition.window(query)
            if window is not None:
                return [found[range_key] for range_key in window]
        return list(found.values())
    if not conditions:
        return None
    attribute, value = conditions[0]
    key = (id(table), attribute)
    index = _index_maps.get(key)
    if index is None or index.table is not table or index.built_at != _table_changes[0]:
        index = _index_maps[key] = _IndexMap(table, attribute)
    return index.items(value)


class _IndexMap:
    """The items of a table by their value of one attribute (an index's partition key), built
    once by reading the table, then kept up to date item by item. A partition of one item (most
    of an index by contact or by ticket) is held as that item, not as a dict of one."""

    def __init__(self, table: Any, attribute: str) -> None:
        self.table, self.attribute, self.built_at = table, attribute, _table_changes[0]
        self.partitions: dict[Any, Any] = {}  # value -> its item, or (hash key, range key) -> item if several
        self.value_of: dict[tuple, Any] = {}  # (hash key, range key) -> value: where to remove it from
        for item in _all_items_of(table):
            self._add((item.hash_key, item.range_key), item)

    def items(self, value: Any) -> list:
        found = self.partitions.get(value)
        if found is None:
            return []
        return list(found.values()) if type(found) is dict else [found]

    def _add(self, key: tuple, item: Any) -> None:
        value = item.attrs.get(self.attribute)
        if not value:
            return
        found = self.partitions.get(value)
        if found is None:
            self.partitions[value] = item
        else:
            if type(found) is not dict:
                found = self.partitions[value] = {(found.hash_key, found.range_key): found}
            found[key] = item
        self.value_of[key] = value

    def written(self, hash_key: Any, range_key: Any) -> None:
        key = (hash_key, range_key)
        before = self.value_of.pop(key, None)
        if before is not None:
            partition = self.partitions[before]
            if type(partition) is not dict:  # this item alone
                del self.partitions[before]
            else:
                del partition[key]
                if len(partition) == 1:
                    self.partitions[before] = next(iter(partition.values()))
        item = self.table.get_item(hash_key, range_key)
        if item is not None:
            self._add(key, item)


class _SortedPartition:
    """The sort keys (strings) of one partition's items, in order, kept up to date item by item."""

    def __init__(self, table: Any, hash_key: Any) -> None:
        self.table, self.hash_key, self.built_at = table, hash_key, _table_changes[0]
        self.keys = sorted(table.items.get(hash_key, {}), key=_value)  # the items' own range keys

    def written(self, range_key: Any) -> None:
        at = bisect.bisect_left(self.keys, range_key.value, key=_value)
        present = at < len(self.keys) and self.keys[at].value == range_key.value
        exists = range_key in self.table.items.get(self.hash_key, {})
        if exists and not present:
            self.keys.insert(at, range_key)
        elif present and not exists:
            del self.keys[at]

    def window(self, query: dict) -> list | None:
        """The sort keys a Query may read: within its condition, after its start key, as many as
        its limit (None: a Query this does not narrow)."""
        comparison, operands = query.get("range_comparison"), query.get("range_objs") or []
        start_key = (query.get("exclusive_start_key") or {}).get(self.table.range_key_attr)
        if any(operand.type != "S" for operand in operands) or (start_key is not None and "S" not in start_key):
            return None
        values = [operand.value for operand in operands]
        left = functools.partial(bisect.bisect_left, self.keys, key=_value)
        right = functools.partial(bisect.bisect_right, self.keys, key=_value)
        bounds = {None: lambda: (0, len(self.keys)), "EQ": lambda: (left(values[0]), right(values[0])),
                  "LT": lambda: (0, left(values[0])), "LE": lambda: (0, right(values[0])),
                  "GT": lambda: (right(values[0]), len(self.keys)), "GE": lambda: (left(values[0]), len(self.keys)),
                  "BETWEEN": lambda: (left(values[0]), right(values[-1])),
                  "BEGINS_WITH": lambda: (left(values[0]), self._after_prefix(left(values[0]), values[0]))}
        if comparison not in bounds:
            return None
        start, end = bounds[comparison]()
        forward, limit = query.get("scan_index_forward") is not False, query.get("limit")
        if start_key is not None:
            start, end = (max(start, right(start_key["S"])), end) if forward else (start, min(end, left(start_key["S"])))
        if limit:  # and one more: moto tells of a next page only when it sees an item after the last
            start, end = (start, min(end, start + limit + 1)) if forward else (max(start, end - limit - 1), end)
        return self.keys[start:max(start, end)]

    def _after_prefix(self, start: int, prefix: str) -> int:
        end = start
        while end < len(self.keys) and self.keys[end].value.startswith(prefix):
            end += 1
        return end


def _value(dynamo_type: Any) -> Any:
    return dynamo_type.value


def _follow_index_maps(table: Any, hash_key: Any, range_key: Any) -> None:
    for (table_id, _), index in list(_index_maps.items()):
        if table_id == id(table) and index.table is table and index.built_at == _table_changes[0]:
            index.written(hash_key, range_key)
    partition = _sorted_partitions.get((id(table), hash_key))
    if partition is not None and partition.table is table and partition.built_at == _table_changes[0] and range_key:
        partition.written(range_key)


def _all_items_of(table: Any) -> Iterator[Any]:
    for hashed in table.items.values():
        yield from (hashed.values() if table.range_key_attr else (hashed,))
