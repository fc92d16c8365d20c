"""The sweep's writes. One transaction per ticket per cycle holds the ticket swap, one audit per
firing, one run per firing (created only if absent), the per-cycle cap counters and the
deliveries to send, so a firing either happened completely or not at all."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from automations.adapters.dynamo import _failed_checks, _is, _n, _s
from automations.clock import iso_z
from automations.domain.audit import Audit
from automations.domain.run import Run
from automations.domain.ticket import Ticket
from automations.ports import StaleWrite
from automations.service.sweep import AlreadyFired, CapReached, SweepStats

_SUMMARY_DAYS = 7  # sweep summaries and cap counters expire (TTL) after a week


def _expiry(at: datetime) -> int:
    return int((at + timedelta(days=_SUMMARY_DAYS)).timestamp())


class DynamoFiringStore:
    def __init__(self, client, table: str, tickets, runs, deliveries) -> None:
        self._db = client
        self._table = table
        self._tickets = tickets
        self._runs = runs
        self._deliveries = deliveries

    def _cap(self, account_id: str, cycle: str, automation_id: int, cap: int, expires: int) -> dict[str, Any]:
        return {"Update": {
            "TableName": self._table,
            "Key": {"PK": _s(f"ACCOUNT#{account_id}"), "SK": _s(f"SWEEP_CAP#{cycle}#{automation_id}")},
            "UpdateExpression": "ADD fired :one SET expires_at = :expires",
            "ConditionExpression": "attribute_not_exists(fired) OR fired < :cap",
            "ExpressionAttributeValues": {":one": _n(1), ":cap": _n(cap), ":expires": _n(expires)}}}

    def commit(self, old: Ticket, new: Ticket, audits: list[Audit], runs: list[Run], deliveries: list,
               cycle: str, cap: int) -> None:
        expires = _expiry(new.updated_at)
        items = self._tickets.replace_items(old, new, audits)
        items += [(f"run:{r.automation_id}", self._runs.new_run_put(r)) for r in runs]
        items += [(f"cap:{r.automation_id}", self._cap(old.account_id, cycle, r.automation_id, cap, expires))
                  for r in runs]
        items += [("delivery", self._deliveries.new_delivery_put(d)) for d in deliveries]
        try:
            self._db.transact_write_items(TransactItems=[item for _, item in items])
        except ClientError as e:
            if not _is(e, "TransactionCanceledException"):
                raise
            failed = [tag for (tag, _), bad in zip(items, _failed_checks(e)) if bad]
            capped = {int(tag.split(":")[1]) for tag in failed if tag.startswith("cap:")}
            if "ticket" in failed or not failed:
                raise StaleWrite(*failed) from None
            if any(tag.startswith("run:") or tag == "delivery" for tag in failed):
                raise AlreadyFired() from None
            raise CapReached(capped) from None

    def add_to_summary(self, sweep_id: str, stats: SweepStats, at: datetime) -> None:
        counts = stats.as_dict()
        self._db.update_item(
            TableName=self._table, Key={"PK": _s(f"SWEEP#{sweep_id}"), "SK": _s("SUMMARY")},
            # finished_at: when the cycle's latest task finished (the local console lists sweeps by it)
            UpdateExpression="ADD " + ", ".join(f"{name} :{name}" for name in counts)
                             + " SET expires_at = :e, finished_at = :at",
            ExpressionAttributeValues={**{f":{name}": _n(value) for name, value in counts.items()},
                                       ":e": _n(_expiry(at)), ":at": _s(iso_z(at))})

    def summary(self, sweep_id: str) -> dict[str, int]:
        item = self._db.get_item(TableName=self._table, Key={"PK": _s(f"SWEEP#{sweep_id}"), "SK": _s("SUMMARY")},
                                 ConsistentRead=True).get("Item") or {}
        return {name: int(item[name]["N"]) if name in item else 0 for name in SweepStats().as_dict()}

    def record_failed(self, runs: list[Run]) -> None:
        for run in runs:
            self._runs.put_new(run)
