"""How fast the sweep decides which automations hold for which tickets.

``run`` builds valid active automations and varied tickets as earlier hourly cycles left them
(so, as in a running account, few rules still hold for any ticket), then times, best of three:

- the evaluator: ``CompiledRules.run_cycle`` over every ticket at one cycle instant, the path
  a sweep worker takes. An evaluation is one (ticket, automation) pair decided, however it was
  decided, so a ticket counts as many evaluations as there are automations;
- a baseline: for every (ticket, automation) pair, only reading the ticket attributes that
  automation's conditions read into a tuple, which is the least any per-pair evaluation costs.

The evaluator gets its speed by not evaluating most pairs: rules are indexed by the ticket
statuses they can hold under, so a ticket meets only the rules of its status; within a rule
the cheapest tests run first and stop at the first that fails; tests are closures compiled
once, with hour thresholds turned into cut-off instants once per cycle, so a time condition is
one or two datetime comparisons and nothing is allocated until a rule holds.
"""
from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from operator import attrgetter

from automations.domain.business_hours import BusinessHours
from automations.domain.evaluator import CompiledRules, attributes_read
from automations.domain.model import Action, Automation, Condition, Conditions, SubjectKind, Trigger
from automations.domain.ticket import Ticket
from automations.domain.ticket_rules import validate_sweep_rule
from automations.errors import Problems

NOW = datetime(2026, 6, 15, 10, 30, tzinfo=UTC)
TAGS = tuple(f"tag{i}" for i in range(40)) + ("vip", "billing", "bug", "refund", "escalated")
WORDS = ("printer", "invoice", "login", "broken", "please", "help", "refund", "error", "slow", "thanks")
# status -> share of an account's non-closed tickets
STATUS_MIX = {"new": 10, "open": 40, "pending": 20, "hold": 5, "solved": 25}
HOUR = timedelta(hours=1)


def _tickets(rng: random.Random, count: int, first_id: int) -> list[Ticket]:
    tickets = []
    for number in range(first_id, first_id + count):
        created = NOW - timedelta(minutes=rng.randint(60, 60 * 24 * 60))
        updated = created + (NOW - created) * rng.random()
        status = rng.choices(list(STATUS_MIX), weights=list(STATUS_MIX.values()))[0]
        assignee = rng.choice([None, *range(1, 51)])
        kind = rng.choice(["", "question", "incident", "problem", "task"])
        tickets.append(Ticket(
            account_id="bench", id=number, subject=f"Ticket {number}",
            description=" ".join(rng.choices(WORDS, k=rng.randint(3, 12))),
            status=status, priority=rng.choice(["", "low", "normal", "normal", "high", "urgent"]), type=kind,
            requester_id=rng.randint(1, 5000), assignee_id=assignee, group_id=rng.choice([None, *range(1, 11)]),
            organization_id=rng.choice([None, *range(1, 200)]), tags=rng.sample(TAGS, rng.randint(0, 4)),
            custom_fields={360001: str(rng.randint(0, 100)), 360002: rng.choice(["", "gold", "silver", "bronze"])},
            brand_id=1, ticket_form_id=rng.choice([1, 2]), via_id=rng.choice([0, 4, 5]),
            satisfaction_score=rng.choice(["unoffered", "offered", "good", "bad"]),
            created_at=created, updated_at=updated, assigned_at=updated if assignee else None,
            requester_updated_at=created + (updated - created) * rng.random(),
            assignee_updated_at=updated if assignee else None,
            due_at=NOW + rng.randint(-200, 400) * HOUR if kind == "task" else None,
            sla_next_breach_at=NOW + rng.randint(-50, 100) * HOUR if rng.random() < 0.3 else None,
            status_entered_at={status: created + (updated - created) * rng.random()},
        ))
    return tickets


def _automations(rng: random.Random, count: int) -> list[Automation]:
    """Rules in the shapes Zendesk accounts use: close after solved, pending reminders,
    escalations of stale or urgent tickets, SLA warnings; each anchored on status (sometimes
    ``less_than``), each with a time condition, usually narrowed further."""
    statuses = ("new", "open", "pending", "hold", "solved")
    narrowing = [
        lambda: Condition("priority", rng.choice(["is", "greater_than"]), rng.choice(["normal", "high", "urgent"])),
        lambda: Condition("current_tags", "includes", " ".join(rng.sample(TAGS, 2))),
        lambda: Condition("group_id", "is", rng.choice(["", *map(str, range(1, 11))])),
        lambda: Condition("type", "is", rng.choice(["incident", "problem", "task"])),
        lambda: Condition("custom_fields_360002", "is", rng.choice(["gold", "silver"])),
        lambda: Condition("custom_fields_360001", "greater_than", str(rng.randint(50, 95))),
        lambda: Condition("assignee_id", "is", ""),
        lambda: Condition("description_includes_word", "includes", rng.choice(WORDS)),
    ]
    rules = []
    for number in range(1, count + 1):
        status = rng.choice(statuses)
        if rng.random() < 0.15:
            anchor = Condition("status", "less_than", "solved")
            clock = Condition(rng.choice(["updated_at", "requester_updated_at", "NEW"]),
                              rng.choice(["greater_than", "greater_than_business_hours"]), str(rng.randint(72, 700)))
        else:
            anchor = Condition("status", "is", status)
            field = rng.choice([status.upper(), status.upper(), "updated_at", "assigned_at", "until_due_date",
                                "until_sla_next_breach_at"])
            clock = Condition(field, rng.choice(["is", "greater_than", "greater_than", "less_than_business_hours",
                                                 "is_business_hours"]), str(rng.randint(2, 400)))
        marker = f"auto_{number}"
        conditions = [anchor, clock, *(pick() for pick in rng.sample(narrowing, rng.randint(0, 2))),
                      Condition("current_tags", "not_includes", marker)]
        actions = [Action("current_tags", marker)]
        if rng.random() < 0.5:
            actions.append(Action("notification_user", ["assignee_id", "Ticket {{ticket.id}}", "Still open"]))
        if status == "solved" and rng.random() < 0.3:
            actions.append(Action("status", "closed"))
        rule = Automation(
            account_id="bench", id=number, uuid=f"bench-{number}", title=f"Rule {number}", active=True,
            position=number, subject=SubjectKind.TICKET, trigger=Trigger.SWEEP,
            conditions=Conditions(tuple(conditions)), actions=tuple(actions), created_at=NOW, updated_at=NOW)
        problems = Problems()
        validate_sweep_rule(rule, problems)
        if problems.errors:
            raise AssertionError(f"benchmark rule {number} is invalid: {problems.errors}")
        rules.append(rule)
    return rules


def _best_of(runs: int, work) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def _settled(rng: random.Random, count: int, compiled: CompiledRules) -> list[Ticket]:
    """Tickets as the sweep finds them in a running account: earlier cycles have already fired
    what held then (so nullifying conditions now keep those rules quiet), and closed tickets
    are no longer swept."""
    tickets: list[Ticket] = []
    while len(tickets) < count:
        batch = _tickets(rng, count - len(tickets), first_id=len(tickets) + 1)
        for hours_ago in (3, 2, 1):  # cycle by cycle, as the sweep runs
            batch = [compiled.run_cycle(t, NOW - hours_ago * HOUR).ticket for t in batch]
        tickets += (t for t in batch if t.status != "closed")
    return tickets


def run(tickets: int = 20000, automations: int = 100, seed: int = 1) -> dict:
    rng = random.Random(seed)
    rules = _automations(rng, automations)
    compiled = CompiledRules(rules, BusinessHours("Europe/Amsterdam"))
    ticket_list = _settled(rng, tickets, compiled)
    firings = sum(len(compiled.run_cycle(t, NOW).firings) for t in ticket_list)

    def sweep() -> None:
        cycle = compiled.run_cycle
        for t in ticket_list:
            cycle(t, NOW)

    readers = [attrgetter(*dict.fromkeys(a for c in rule.conditions.all + rule.conditions.any
                                         for a in attributes_read(c)))
               for rule in rules]

    def baseline() -> None:
        for t in ticket_list:
            for read in readers:
                read(t)

    pairs = tickets * automations
    evaluator_seconds, baseline_seconds = _best_of(3, sweep), _best_of(3, baseline)
    return {
        "evaluations_per_second": round(pairs / evaluator_seconds),
        "baseline_per_second": round(pairs / baseline_seconds),
        "ratio": round(evaluator_seconds / baseline_seconds, 2),  # evaluator time per pair / baseline's
        "tickets": tickets,
        "automations": automations,
        "firings": firings,
    }
