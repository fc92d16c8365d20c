"""The sweep's writes. One transaction per ticket per cycle holds the ticket swap, one audit per
firing, one run per firing (created only if absent), the per-cycle cap counters and the
deliveries to send, so a firing either happened completely or not at all.

The cap (an automation fires on at most N tickets a cycle) is counted per sweep shard, so the
shard workers never write one item together (a lost TransactionConflict would cost a ticket its
hour): each shard holds a ``spare`` share, spent one per firing in the firing's transaction.
A shard out of share takes up to LEASE more from the cycle's pool (``leased``, never past N) or,
once the pool is spent, half of another shard's spare, each move one transaction between two
items. Shares only ever move, so at most N fire; a firing is refused only when the pool and
every shard are empty, that is when N have fired."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from automations.adapters.aws import has_code
from automations.adapters.shards import SUMMARY_SHARDS, shard_of
from automations.adapters.table import Table, number, text
from automations.clock import iso_z
from automations.domain.audit import Audit
from automations.domain.run import Run
from automations.domain.ticket import SWEEP_SHARDS, Ticket, sweep_shard
from automations.domain.sweep import SweepStats
from automations.errors import reason_of
from automations.store_refusals import AlreadyFired, CapReached, StaleWrite

_log = logging.getLogger(__name__)
_SUMMARY_DAYS = 7  # sweep summaries and cap counters expire (TTL) after a week
LEASE = 25  # how much of the cap a shard takes from the pool at a time


def summary_key(sweep_id: str, shard: int) -> dict[str, Any]:
    """One of a cycle's summary items: its counters are spread over SUMMARY_SHARDS keys, as one
    key would take every sweep task's addition (over 1,000 writes a second with thousands of
    accounts)."""
    return {"PK": text(f"SWEEP#{sweep_id}#{shard:02d}"), "SK": text("SUMMARY")}


def summary_sweep_id(item: dict[str, Any]) -> str:
    """The sweep id of a summary item (summary_key's inverse)."""
    return item["PK"]["S"].removeprefix("SWEEP#").rpartition("#")[0]


def sum_summary_parts(items: list[dict[str, Any]]) -> dict[str, int]:
    """One cycle's counters from its summary items (all or only some of its parts)."""
    return {name: sum(int(item[name]["N"]) for item in items if name in item) for name in SweepStats().as_dict()}


def _expiry(at: datetime) -> int:
    return int((at + timedelta(days=_SUMMARY_DAYS)).timestamp())


class DynamoFiringStore(Table):
    def __init__(self, client, table: str, tickets, runs, deliveries) -> None:
        super().__init__(client, table)
        self._tickets = tickets
        self._runs = runs
        self._deliveries = deliveries

    def _cap_key(self, account_id: str, cycle: str, automation_id: int, shard: int | None) -> dict[str, Any]:
        """The cycle's pool of the automation's cap (shard None), or one shard's share of it."""
        where = "" if shard is None else f"#{shard}"
        return {"PK": text(f"ACCOUNT#{account_id}"), "SK": text(f"SWEEP_CAP#{cycle}#{automation_id}{where}")}

    def _spend(self, account_id: str, cycle: str, automation_id: int, shard: int, expires: int) -> dict[str, Any]:
        return {"Update": {
            "TableName": self._table, "Key": self._cap_key(account_id, cycle, automation_id, shard),
            "UpdateExpression": "ADD spare :minus_one SET expires_at = :expires",
            "ConditionExpression": "spare > :zero",
            "ExpressionAttributeValues": {":minus_one": number(-1), ":zero": number(0), ":expires": number(expires)}}}

    def _move(self, account_id: str, cycle: str, automation_id: int, shard: int, source: dict[str, Any],
              amount: int, expires: int) -> bool:
        """Move ``amount`` of the cap from ``source`` (an Update taking it, with its condition)
        to the shard's spare, in one transaction; False when the source no longer has it."""
        give = {"Update": {
            "TableName": self._table, "Key": self._cap_key(account_id, cycle, automation_id, shard),
            "UpdateExpression": "ADD spare :n SET expires_at = :expires",
            "ExpressionAttributeValues": {":n": number(amount), ":expires": number(expires)}}}
        try:
            self._db.transact_write_items(TransactItems=[{"Update": {"TableName": self._table, **source}}, give])
            return True
        except ClientError as e:
            if has_code(e, "TransactionCanceledException"):
                return False
            raise

    def _refill(self, account_id: str, cycle: str, automation_id: int, shard: int, cap: int, expires: int) -> bool:
        """Give the shard more of the cap: from the pool, else from another shard's spare."""
        pool_key = self._cap_key(account_id, cycle, automation_id, None)
        for _ in range(2 * SWEEP_SHARDS):
            pool = self._db.get_item(TableName=self._table, Key=pool_key, ConsistentRead=True).get("Item") or {}
            leased = int(pool["leased"]["N"]) if "leased" in pool else 0
            if leased < cap:
                amount = min(LEASE, cap - leased)
                take = {"Key": pool_key, "UpdateExpression": "SET leased = :after, expires_at = :expires",
                        "ConditionExpression": "attribute_not_exists(leased) OR leased = :seen",
                        "ExpressionAttributeValues": {":after": number(leased + amount), ":seen": number(leased),
                                                      ":expires": number(expires)}}
                if leased == 0:
                    take["ConditionExpression"] = "attribute_not_exists(leased)"
                    del take["ExpressionAttributeValues"][":seen"]
                if self._move(account_id, cycle, automation_id, shard, take, amount, expires):
                    return True
                continue
            others = [self._cap_key(account_id, cycle, automation_id, other) for other in range(SWEEP_SHARDS)
                      if other != shard]
            spares = [(int(item["spare"]["N"]), item) for item in self.batch_get(others, ConsistentRead=True)
                      if int(item.get("spare", {"N": "0"})["N"]) > 0]
            if not spares:
                return False
            spare, richest = max(spares, key=lambda pair: pair[0])
            amount = -(-spare // 2)  # half, rounded up: the other shard may still need the rest
            take = {"Key": {"PK": richest["PK"], "SK": richest["SK"]},
                    "UpdateExpression": "ADD spare :minus", "ConditionExpression": "spare >= :n",
                    "ExpressionAttributeValues": {":minus": number(-amount), ":n": number(amount)}}
            if self._move(account_id, cycle, automation_id, shard, take, amount, expires):
                return True
        return False

    def commit(self, old: Ticket, new: Ticket, audits: list[Audit], runs: list[Run], deliveries: list,
               cycle: str, cap: int) -> None:
        expires = _expiry(new.updated_at)
        shard = sweep_shard(old.id)
        items = self._tickets.replace_items(old, new, audits)
        items += [(f"run:{r.automation_id}", self._runs.new_run_put(r)) for r in runs]
        items += [(f"cap:{r.automation_id}", self._spend(old.account_id, cycle, r.automation_id, shard, expires))
                  for r in runs]
        items += [("delivery", self._deliveries.new_delivery_put(d)) for d in deliveries]
        while True:
            try:
                self.transact_tagged(items)
            except StaleWrite as stale:
                failed = list(stale.args)
            else:
                self._count_usage(runs)
                return
            if "ticket" in failed or not failed:
                raise StaleWrite(*failed)
            if any(tag.startswith("run:") or tag == "delivery" for tag in failed):
                raise AlreadyFired()
            capped = {int(tag.split(":")[1]) for tag in failed if tag.startswith("cap:")}
            # A shard out of share refills and tries again; only an automation whose whole cap is
            # spent is refused (each refill takes from the pool or another shard, so this ends).
            empty = {a for a in capped if not self._refill(old.account_id, cycle, a, shard, cap, expires)}
            if empty:
                raise CapReached(empty)

    def _count_usage(self, runs: list[Run]) -> None:
        """The committed firings in the usage counters, best-effort: a count lost only makes
        Zendesk's usage sorts a little off, where failing the task would hold its mail for the
        relay and lose its counts."""
        for run in runs:
            try:
                self._runs.count_usage([run])
            except Exception as error:  # noqa: BLE001 - the firing is committed: nothing here may undo or stop it
                _log.warning("sweep firing left out of its usage count: account_id=%s automation_id=%s run_id=%s: %s",
                             run.account_id, run.automation_id, run.id, reason_of(error))

    def add_to_summary(self, sweep_id: str, stats: SweepStats, at: datetime, part: str) -> None:
        """Add a task's counts. They exist nowhere else (a redelivered task finds its tickets
        swept and counts none of them), so a throttle is waited out: a throttled ADD added
        nothing, so adding again counts once."""
        counts = stats.as_dict()
        self.update_through_throttles(
            f"the summary of sweep {sweep_id} kept throttling",
            Key=summary_key(sweep_id, shard_of(part, SUMMARY_SHARDS)),
            # finished_at: when the cycle's latest task finished (the local console lists sweeps by it)
            UpdateExpression="ADD " + ", ".join(f"{name} :{name}" for name in counts)
                             + " SET expires_at = :e, finished_at = :at",
            ExpressionAttributeValues={**{f":{name}": number(value) for name, value in counts.items()},
                                       ":e": number(_expiry(at)), ":at": text(iso_z(at))})

    def summary(self, sweep_id: str) -> dict[str, int]:
        keys = [summary_key(sweep_id, shard) for shard in range(SUMMARY_SHARDS)]
        return sum_summary_parts(self.batch_get(keys, ConsistentRead=True))

    def was_started(self, sweep_id: str) -> bool:
        return "Item" in self._db.get_item(TableName=self._table, Key=self._started(sweep_id), ConsistentRead=True)

    def mark_started(self, sweep_id: str, at: datetime) -> None:
        self._db.put_item(TableName=self._table, Item={**self._started(sweep_id), "expires_at": number(_expiry(at))})

    @staticmethod
    def _started(sweep_id: str) -> dict[str, Any]:
        return {"PK": text(f"SWEEP#{sweep_id}"), "SK": text("STARTED")}

    def record_failed(self, runs: list[Run]) -> None:
        for run in runs:
            self._runs.put_new(run)
