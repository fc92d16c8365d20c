"""Partition heat: which DynamoDB partition keys a workload writes and reads, and how hard.

``Recorder`` hooks the product's boto3 clients (botocore events) and, for every DynamoDB call,
charges capacity units to the partition key it lands on: on the table, and on each GSI, whose
keys it derives from the item as it was before and after the write (a write that moves an item
in an index is a delete there plus a put; a transactional item costs twice on the table, prepared
and committed, and once on an index, which the committed change propagates to; a condition check
costs a write even when nothing changes). It also counts every AWS call and Lambda invocation
per phase, the figures the scale model (bench_scale.py) starts from.

``hot_keys`` then scales a phase to the rate it must run at in production: a key that took
``u`` units over ``n`` units of work takes ``u / n * rate`` units a second at ``rate`` units of
work a second, which must stay under a partition's 1,000 write and 3,000 read units. The shards
of one key (keys equal but for a trailing ``#<n>``) share their family's units evenly, as they do
at a million: a few hundred units of work cannot fill 64 shards evenly, and the check must not
fail on that noise. A key without siblings (an unsharded one) is taken as measured.

Local only: it reads items back through an unhooked client, which the product never does."""
from __future__ import annotations

import math
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

WRITE_LIMIT = 1000  # write units a second one partition serves
READ_LIMIT = 3000  # read units a second one partition serves
TABLE = "table"


@dataclass
class Phase:
    """What one phase of a workload cost."""

    name: str
    units: int = 0  # units of work (joins, runs, tickets) the phase did
    writes: Counter = field(default_factory=Counter)  # (index, partition key) -> write units
    reads: Counter = field(default_factory=Counter)  # (index, partition key) -> read units
    calls: Counter = field(default_factory=Counter)  # "service.Operation" -> calls
    stage_calls: Counter = field(default_factory=Counter)  # (invoked by, function, "service.Operation") -> calls
    invocations: Counter = field(default_factory=Counter)  # (invoked by, function logical id) -> invocations
    seconds: float = 0.0  # wall time here, recording included


@dataclass(frozen=True)
class HotKey:
    phase: str
    kind: str  # "write" or "read"
    index: str
    key: str
    per_unit: float  # units on this key per unit of work
    per_second: float  # at the phase's production rate
    limit: int


def item_size(item: dict[str, Any] | None) -> int:
    """An item's size as DynamoDB counts it: each attribute's name plus its value (strings and
    binaries by their bytes, numbers by about a byte per two digits, plus one; maps and lists 3
    bytes plus a byte and the size of each element), not the length of its JSON wire form (whose
    type descriptors and escaped quotes made a 1,170-byte run item 1,380)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items()) if item else 0


def _value_size(value: dict[str, Any]) -> int:
    (kind, content), = value.items()
    if kind == "S":
        return len(content.encode())
    if kind == "B":
        return len(content)
    if kind == "N":
        return math.ceil(len(content.lstrip("-").replace(".", "").strip("0") or "0") / 2) + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(name.encode()) + 1 + _value_size(v) for name, v in content.items())
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in content)
    return sum(len(str(v).encode()) for v in content)  # SS, NS, BS: their elements


def _write_units(item: dict[str, Any] | None) -> int:
    return max(1, math.ceil(item_size(item) / 1024))


def _read_units(size: int, consistent: bool) -> float:
    return max(1, math.ceil(size / 4096)) * (1.0 if consistent else 0.5)


class Recorder:
    """Attach with ``with recorder.attached():``; name the phases with ``with recorder.phase(name):``."""

    def __init__(self, db, table: str, *, clients: dict[str, Any],
                 stored_item: Callable[[str, dict], dict | None] | None = None) -> None:
        """``stored_item(table, key)`` reads the items before and after a write (default: a
        GetItem of an unhooked client; the local runtime's in-process read is much cheaper)."""
        self._db, self._table, self._clients = db, table, clients
        import boto3  # an unhooked twin of the product's client, for reading images

        self._reader = boto3.client("dynamodb", region_name=db.meta.region_name, endpoint_url=db.meta.endpoint_url)
        self._stored_item = stored_item or (lambda table, key: self._reader.get_item(
            TableName=table, Key=key, ConsistentRead=True).get("Item"))
        described = self._reader.describe_table(TableName=table)["Table"]
        self._table_keys = [k["AttributeName"] for k in described["KeySchema"]]
        self._indexes = {i["IndexName"]: ([k["AttributeName"] for k in i["KeySchema"]],
                                          i["Projection"]["ProjectionType"])
                         for i in described.get("GlobalSecondaryIndexes", [])}
        self.phases: dict[str, Phase] = {}
        self._current: Phase | None = None
        self._lock = threading.Lock()
        self._running = threading.local()  # the function whose handler this thread is in

    # -- phases ------------------------------------------------------------------------------------
    @contextmanager
    def phase(self, name: str, units: int) -> Iterator[Phase]:
        self._current = self.phases[name] = Phase(name, units)
        started = time.perf_counter()
        try:
            yield self._current
        finally:
            self._current.seconds = time.perf_counter() - started
            self._current = None

    @contextmanager
    def attached(self) -> Iterator[Recorder]:
        from automations_local import api_gateway, lambdas, queues, scheduler

        handlers = [(client, f"{event}.{client.meta.service_model.service_id.hyphenize()}", hook)
                    for client in self._clients.values()
                    for event, hook in (("before-parameter-build", self._before), ("after-call", self._after))]
        for client, event, hook in handlers:
            client.meta.events.register(event, hook)
        # Each caller's own name for lambdas.invoke; lambdas' own is the one invoke_async calls.
        originals = {module: module.invoke for module in (api_gateway, queues, scheduler, lambdas)}
        for module, original in originals.items():
            module.invoke = self._invoking(original, module.__name__.rsplit(".", 1)[-1])
        invoke_async = scheduler.invoke_async
        scheduler.invoke_async = self._scheduled(invoke_async)
        try:
            yield self
        finally:
            for client, event, hook in handlers:
                client.meta.events.unregister(event, hook)
            for module, original in originals.items():
                module.invoke = original
            scheduler.invoke_async = invoke_async

    def _invoking(self, original, source: str):
        """``original`` (lambdas.invoke), counting each invocation under who made it: the API
        ("api_gateway"), an SQS event source ("queues") or a schedule ("scheduler")."""
        def invoke(function, event, **kwargs):
            invoked_by = getattr(self._running, "invoked_by", None) or source
            with self._lock:
                if self._current is not None:
                    self._current.invocations[(invoked_by, function.logical_id)] += 1
            caller = getattr(self._running, "stage", None)
            self._running.stage = (invoked_by, function.logical_id)
            try:
                return original(function, event, **kwargs)
            finally:
                self._running.stage = caller
        return invoke

    def _scheduled(self, original):
        """``original`` (lambdas.invoke_async, which the scheduler driver uses): its invocation is
        the scheduler's, though it reaches lambdas.invoke."""
        def invoke_async(function, event, **kwargs):
            self._running.invoked_by = "scheduler"
            try:
                return original(function, event, **kwargs)
            finally:
                self._running.invoked_by = None
        return invoke_async

    # -- botocore hooks ------------------------------------------------------------------------------
    def _before(self, model, params, context, **_):
        if self._current is None:
            return
        call = f"{model.service_model.service_name}.{model.name}"
        source, function = getattr(self._running, "stage", None) or (None, None)
        with self._lock:
            self._current.calls[call] += 1
            self._current.stage_calls[(source, function, call)] += 1
        if model.service_model.service_name == "dynamodb":
            context["heat_params"] = params
            writes = list(self._writes(model.name, params))
            context["heat"] = [(table_key, transactional, self._image(table_key) if kind != "check" else None,
                                kind, new) for table_key, transactional, kind, new in writes]

    def _after(self, model, parsed, context, **_):
        phase = self._current
        if phase is None or "heat_params" not in context:
            return
        params = context["heat_params"]
        failed = "Error" in parsed
        charges: list[tuple[str, dict, str, float]] = []
        for table_key, transactional, old, kind, new in context.get("heat", []):
            factor = 2 if transactional else 1
            if kind == "update" and not failed:
                new = self._image(table_key)
            elif kind == "check" or failed:
                new = old
            # A write is charged for the larger of the item before and after it (DynamoDB's
            # "Capacity unit consumption for write operations"): shrinking an item costs its old size.
            charges.append(("write", TABLE, table_key[self._table_keys[0]]["S"],
                            factor * max(_write_units(old), _write_units(new))))
            if not failed and kind != "check":  # propagated to the indexes once committed: once
                charges += [("write", index, key, units) for index, key, units in self._index_writes(old, new)]
        charges += self._reads(model.name, params, parsed)
        with self._lock:
            for kind, index, key, units in charges:
                (phase.writes if kind == "write" else phase.reads)[(index, key)] += units

    # -- what a call writes ----------------------------------------------------------------------------
    def _key_of(self, item: dict[str, Any]) -> dict[str, Any]:
        return {name: item[name] for name in self._table_keys}

    def _writes(self, operation: str, params: dict[str, Any]) -> Iterator[tuple[dict, bool, str, dict | None]]:
        """(table key, transactional, kind, new item when known) of each item the call writes."""
        if operation == "PutItem":
            yield self._key_of(params["Item"]), False, "put", params["Item"]
        elif operation == "UpdateItem":
            yield params["Key"], False, "update", None
        elif operation == "DeleteItem":
            yield params["Key"], False, "delete", None
        elif operation == "BatchWriteItem":
            for request in params["RequestItems"].get(self._table, []):
                if "PutRequest" in request:
                    yield self._key_of(request["PutRequest"]["Item"]), False, "put", request["PutRequest"]["Item"]
                else:
                    yield request["DeleteRequest"]["Key"], False, "delete", None
        elif operation == "TransactWriteItems":
            for item in params["TransactItems"]:
                (kind, body), = item.items()
                if kind == "Put":
                    yield self._key_of(body["Item"]), True, "put", body["Item"]
                else:
                    yield body["Key"], True, {"Update": "update", "Delete": "delete"}.get(kind, "check"), None

    def _image(self, key: dict[str, Any]) -> dict[str, Any] | None:
        return self._stored_item(self._table, key)

    def _index_writes(self, old: dict | None, new: dict | None) -> Iterator[tuple[str, str, int]]:
        for index, (names, projection) in self._indexes.items():
            def entry(item):
                if item is None or not all(name in item for name in names):
                    return None
                return tuple(item[name]["S"] for name in names)
            before, after = entry(old), entry(new)
            if before is not None and before != after:
                yield index, before[0], 1  # the entry leaves its place
            if after is None:
                continue
            if projection == "KEYS_ONLY":  # only a change of its keys reaches such an index
                if before != after:
                    yield index, after[0], 1
            elif before != after or old != new:
                yield index, after[0], _write_units(new)

    # -- what a call reads ---------------------------------------------------------------------------------
    def _reads(self, operation: str, params: dict[str, Any], parsed: dict[str, Any]
               ) -> list[tuple[str, str, str, float]]:
        consistent = bool(params.get("ConsistentRead"))
        if operation == "GetItem":
            return [("read", TABLE, params["Key"][self._table_keys[0]]["S"],
                     _read_units(item_size(parsed.get("Item")), consistent))]
        if operation == "BatchGetItem":
            keys = params["RequestItems"].get(self._table, {})
            consistent = bool(keys.get("ConsistentRead"))
            return [("read", TABLE, key[self._table_keys[0]]["S"], _read_units(0, consistent))
                    for key in keys.get("Keys", [])]
        if operation == "Query":
            index = params.get("IndexName") or TABLE
            partition = self._indexes[index][0][0] if index != TABLE else self._table_keys[0]
            key = _partition_value(params, partition)
            size = sum(item_size(item) for item in parsed.get("Items", []))
            return [("read", index, key, _read_units(size, consistent))]
        return []


def _partition_value(params: dict[str, Any], partition: str) -> str:
    """The partition key value a Query's KeyConditionExpression names."""
    names = {v: k for k, v in (params.get("ExpressionAttributeNames") or {}).items()}
    for attribute, placeholder in re.findall(r"([#\w]+)\s*=\s*(:\w+)", params["KeyConditionExpression"]):
        if names.get(attribute, attribute) == partition:
            return params["ExpressionAttributeValues"][placeholder]["S"]
    raise ValueError(f"no partition key in {params['KeyConditionExpression']!r}")


def hot_keys(phase: Phase, rate: float) -> list[HotKey]:
    """The keys of ``phase`` over a partition's limits at ``rate`` units of work a second."""
    return [key for key in hottest(phase, rate) if key.per_second > key.limit]


def _spread(counts: Counter) -> dict[tuple[str, str], float]:
    """``counts`` with each family of shards sharing its total evenly."""
    families: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for index, key in counts:
        families.setdefault((index, re.sub(r"#\d+$", "#<shard>", key)), []).append((index, key))
    spread: dict[tuple[str, str], float] = {}
    for members in families.values():
        share = sum(counts[m] for m in members) / len(members)
        spread.update({m: share for m in members})
    return spread


def hottest(phase: Phase, rate: float, top: int | None = None) -> list[HotKey]:
    """Every key's load at ``rate`` as a share of its limit, the hottest first."""
    found = []
    for kind, counts, limit in (("write", phase.writes, WRITE_LIMIT), ("read", phase.reads, READ_LIMIT)):
        for (index, key), units in _spread(counts).items():
            per_unit = units / max(1, phase.units)
            found.append(HotKey(phase.name, kind, index, key, per_unit, per_unit * rate, limit))
    found.sort(key=lambda k: k.per_second / k.limit, reverse=True)
    return found[:top] if top else found


def totals(phase: Phase) -> dict[str, float]:
    """Write and read units of the whole phase (what on-demand capacity bills)."""
    return {"write": sum(phase.writes.values()), "read": sum(phase.reads.values())}

