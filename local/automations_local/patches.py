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
  times). Index partitions are mapped once and kept until the next write;
- SQS checks a received message's retention against the queue's own setting: moto computes
  every queue attribute, message counts included, three times for each message it hands out
  (with 10,000 runs queued, most of the scale benchmark's time)."""
from __future__ import annotations

import contextvars
import copy
import threading
from collections.abc import Callable, Iterator
from typing import Any

from automations.clock import Clock

_sharing_tables = contextvars.ContextVar("automations_local_sharing_tables", default=False)
_originals: dict[tuple[object, str], Any] = {}


_invocation = threading.local()  # the resolver state of the invocation this thread runs
_partition = threading.local()  # the items of the partition the Query this thread runs reads
_writes = [0]  # item writes so far: an index's map of partitions holds until the next one
_index_maps: dict[tuple[int, str], tuple[Any, int, dict]] = {}  # (table, attribute) -> (table, writes, map)
_ITEM_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item",
                "create_table", "delete_table", "update_table", "restore_table_from_backup", "import_table")


def install(clock: Clock) -> None:
    from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table
    from moto.events import models as events
    from moto.sqs.models import SQSBackend

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
    for name in _ITEM_WRITES:
        _replace(DynamoDBBackend, name, _counted(getattr(DynamoDBBackend, name)))
    _replace(SQSBackend, "is_message_valid_based_on_retention_period", _retained)
    _replace(Table, "query", _partition_query(Table.query))
    _replace(Table, "all_items", _narrowed_items(Table.all_items))


def uninstall() -> None:
    for (owner, name), original in _originals.items():
        if original is None:
            delattr(owner, name)
        else:
            setattr(owner, name, original)
    _originals.clear()
    _index_maps.clear()


def _retained(backend: Any, queue_name: str, message: Any) -> bool:
    """moto's retention check (retained until sent + MessageRetentionPeriod, on moto's time)."""
    from moto.sqs import models as sqs

    retention_s = int(backend.get_queue(queue_name).message_retention_period)
    return retention_s + message.sent_timestamp / 1000 > sqs.unix_time()


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
        partition = table.items[hash_key] if range_key else table.items
        key = range_key if range_key else hash_key
        if item is None:
            partition.pop(key, None)
        else:
            partition[key] = item
        if stream is not None:
            del table.stream_shard.items[stream:]


def _counted(write: Callable) -> Callable:
    def counted(backend: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return write(backend, *args, **kwargs)
        finally:
            _writes[0] += 1  # also when refused: a transaction may have written, then rolled back

    return counted


def _partition_query(query: Callable) -> Callable:
    """moto's Query, over the items of its partition only (its own filtering still applies)."""
    def partition_query(table: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        items = _partition_items(table, hash_key, index_name, kwargs.get("hash_key_conditions"))
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


def _partition_items(table: Any, hash_key: Any, index_name: str | None, conditions: list | None) -> list | None:
    """The items whose partition key is the Query's; None for a Query this cannot tell."""
    if index_name is None:
        if hash_key is None:
            return None
        found = table.items.get(hash_key)
        if found is None:
            return []
        return list(found.values()) if table.range_key_attr else [found]
    if not conditions:
        return None
    attribute, value = conditions[0]
    key = (id(table), attribute)
    cached = _index_maps.get(key)
    if cached is None or cached[0] is not table or cached[1] != _writes[0]:
        partitions: dict[Any, list] = {}
        for item in _all_items_of(table):
            if item.attrs.get(attribute):
                partitions.setdefault(item.attrs[attribute], []).append(item)
        cached = _index_maps[key] = (table, _writes[0], partitions)
    return cached[2].get(value, [])


def _all_items_of(table: Any) -> Iterator[Any]:
    for hashed in table.items.values():
        yield from (hashed.values() if table.range_key_attr else (hashed,))
