"""The scale model (`automations bench --only scale`): a scaled workload on the local runtime,
measured, then turned into time and cost at a million with AWS's published default quotas.

The workload (``workload``): ``size`` contacts join one list whose automation sends an email an
hour later (phase "join": the API call, the ingestion queue, the runs and their schedules), the
runs fire and send (phase "execute": the scheduler, the executor, the deliveries), and a sweep of
``size`` open tickets of which 1 in 100 match a rule (phase "sweep"). heat.Recorder counts every
AWS call, Lambda invocation and DynamoDB capacity unit per partition key, per phase.

The model divides each count by the phase's units of work (joins, runs, tickets) and asks, for
each quota, how many units a second it allows; the smallest is the bottleneck, and the time is
the count over that rate. Latencies per AWS call, and prices, are stated assumptions (PRICES,
LATENCY_MS); quotas are AWS's published defaults."""
from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass
from datetime import timedelta

from automations_local.heat import READ_LIMIT, WRITE_LIMIT, Phase, hottest, totals

MATCHING_EVERY = 100  # the sweep's rule matches 1 ticket in 100
PER_CALL = 100  # contacts per members call

# Production rates each phase must run at: the targets of the issue, as units of work a second.
TARGETS = {  # phase -> (units, seconds, what)
    "join": (1_000_000, 20 * 60, "(a) plan 1,000,000 contacts joining one list with a delayed email"),
    "execute": (1_000_000, 5 * 60, "(b) execute 1,000,000 runs due in the same minute (SES excluded)"),
    "sweep": (100_000, 5 * 60, "(c) sweep 100,000 open tickets hourly"),
}
RATES = {phase: units / seconds for phase, (units, seconds, _) in TARGETS.items()}

# Published default quotas (per account and Region).
LAMBDA_CONCURRENCY = 1000
SCHEDULER_CREATE_PER_S = 1000  # CreateSchedule: 1,000-5,000 TPS by Region; the low end
SCHEDULER_INVOCATIONS_PER_S = 1000
SES_PER_S = 14  # a production SES account's usual starting rate, unless raised
SWEEP_WORKERS_PER_ACCOUNT = 8  # the sweep's shards: one worker chain each

# Assumed AWS latency of one call from Lambda in the same Region, in ms (p50-ish).
LATENCY_MS = {"dynamodb": 6, "dynamodb.Query": 10, "dynamodb.BatchGetItem": 10, "dynamodb.TransactWriteItems": 20,
              "dynamodb.BatchWriteItem": 15, "scheduler": 30, "sqs": 10, "sesv2": 60, "sns": 40, "events": 20}
LAMBDA_OVERHEAD_MS = 5  # per invocation, warm
LAMBDA_GB = 0.5  # the template's MemorySize
# us-east-1 list prices in USD (on-demand DynamoDB after the November 2024 reduction).
PRICES = {"wru": 0.625e-6, "rru": 0.125e-6, "lambda_request": 0.20e-6, "lambda_gb_s": 0.0000133334,
          "scheduler_invocation": 1.00e-6, "sqs_request": 0.40e-6, "ses_message": 0.10e-3}


def _latency_ms(call: str) -> float:
    return LATENCY_MS.get(call, LATENCY_MS[call.split(".")[0]])


# -- the workload ------------------------------------------------------------------------------------
def workload(size: int, tickets: int | None = None) -> dict[str, Phase]:
    """The three phases on a fresh local runtime, in its dev account."""
    from automations_local.runtime import LocalRuntime

    with LocalRuntime(port=0) as runtime:
        return measure(runtime, runtime.dev_account_id, runtime.dev_email, runtime.dev_api_key, size,
                       size if tickets is None else tickets)


def measure(runtime, account_id: str, email: str, api_key: str, size: int, tickets: int) -> dict[str, Phase]:
    """Run the three phases in the account and return what each cost. Every run goes through a
    time bucket, as at volume (a million due in one minute is 31,250 a bucket, of which the
    first 100 get schedules of their own)."""
    from automations.adapters import aws
    from automations.service import time_buckets
    from automations_local.bench import import_open_tickets, urgent_tickets_rule
    from automations_local.bench_runs import delayed_email_on_join, imported_contacts
    from automations_local.heat import Recorder

    wired, account_id, group, automation = delayed_email_on_join(runtime, 1, account_id)
    uuids = imported_contacts(runtime, account_id, "scale", size)
    db, table = aws.client("dynamodb"), runtime.template.physical_name("Table")
    import_open_tickets(db, table, account_id, tickets, MATCHING_EVERY)
    wired.automations.create(account_id, urgent_tickets_rule())
    _drain(runtime)  # whatever the set-up queued, before anything is measured
    runtime.scheduler.hold_background(24 * 3600)  # only this workload's ticks fire schedules
    recorder = Recorder(db, table, clients={name: aws.client(name)
                                            for name in ("dynamodb", "scheduler", "sqs", "sesv2", "sns", "events")},
                        stored_item=runtime.stored_item if runtime.emulates_aws else None)
    per_run, time_buckets.PER_RUN_SCHEDULES = time_buckets.PER_RUN_SCHEDULES, 0
    auth = "Basic " + base64.b64encode(f"{email}/token:{api_key}".encode()).decode()
    try:
        _phases(runtime, recorder, auth, group.id, uuids, tickets)
    finally:
        time_buckets.PER_RUN_SCHEDULES = per_run
        runtime.scheduler.hold_background(0)
    runs, cursor = 0, None
    while True:
        page, cursor = wired.runs.list(account_id, automation_id=automation.id, limit=100, cursor=cursor)
        runs += sum(run.status.value == "succeeded" for run in page)
        if cursor is None:
            break
    assert runs == size, f"{runs} of {size} runs succeeded"
    return recorder.phases


def _phases(runtime, recorder, auth: str, group_id: int, uuids: list[str], tickets: int) -> None:
    from automations_local.router import HttpRequest

    headers = [("host", f"127.0.0.1:{runtime.port}"), ("authorization", auth), ("content-type", "application/json")]
    with recorder.attached():
        with recorder.phase("join", len(uuids)):
            for start in range(0, len(uuids), PER_CALL):
                body = json.dumps({"contact_uuids": uuids[start:start + PER_CALL]}).encode()
                answer = runtime.handle(HttpRequest("POST", f"/v1/contact-lists/{group_id}/members", headers, body))
                assert answer.status == 200, answer.body
            _drain(runtime)
        joined = runtime.clock.now()
        runtime.clock.advance(120)
        with recorder.phase("sweep", tickets):  # this hour's sweep: the next is due an hour from now
            answer = runtime.handle(HttpRequest("POST", "/_local/sweep", headers, b'{"timeout_s": 1800}'))
            assert answer.status == 200, answer.body
        runtime.clock.set(joined + timedelta(hours=1, seconds=90))  # every bucket due, the next sweep not yet
        with recorder.phase("execute", len(uuids)):
            runtime.scheduler.tick()
            _drain(runtime)


def _drain(runtime) -> None:
    report = runtime.queues.drain(1800)
    assert report.drained, report.backlog


# -- the model ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Estimate:
    phase: str
    what: str
    units: int
    target_s: float
    bounds: dict[str, float]  # engine limit name -> units a second it allows
    seconds: float
    bottleneck: str
    cost_usd: float
    ses_s: float  # SES's own time for the mail, at SES_PER_S
    hottest: str


def schedules_per_run(runs_per_bucket: float) -> float:
    """Schedules made (and fired) per run when ``runs_per_bucket`` fall in each (minute, shard):
    one each for the first PER_RUN_SCHEDULES, then the bucket's, made again every REASSERT_EVERY."""
    from automations.service.time_buckets import PER_RUN_SCHEDULES, REASSERT_EVERY

    over = max(0.0, runs_per_bucket - PER_RUN_SCHEDULES)
    return (min(runs_per_bucket, PER_RUN_SCHEDULES) + math.ceil(over / REASSERT_EVERY)) / runs_per_bucket


def estimate(phase: Phase) -> Estimate:
    from automations.adapters.shards import DUE_SHARDS

    units, target_s, what = TARGETS[phase.name]
    per = {call: count / phase.units for call, count in phase.calls.items()}
    invocations = sum(phase.invocations.values()) / phase.units
    lambda_s = (sum(count * _latency_ms(call) for call, count in per.items())
                + invocations * LAMBDA_OVERHEAD_MS) / 1000  # Lambda-seconds per unit
    bounds: dict[str, float] = {}
    fired = 0.0
    if phase.name == "sweep":  # each account's shards are swept by one worker chain each
        worker = "SweepWorkerFunction"
        worker_s = (sum(count * _latency_ms(call) for (function, call), count in phase.function_calls.items()
                        if function == worker)
                    + sum(n for (_, function), n in phase.invocations.items() if function == worker)
                    * LAMBDA_OVERHEAD_MS) / 1000 / phase.units
        bounds[f"sweep workers ({SWEEP_WORKERS_PER_ACCOUNT} shards of one account)"] = \
            SWEEP_WORKERS_PER_ACCOUNT / worker_s
    else:
        bounds[f"Lambda concurrency ({LAMBDA_CONCURRENCY:,})"] = LAMBDA_CONCURRENCY / lambda_s
    if phase.name == "join":  # joins over target_s, due an hour later: as many minutes of buckets
        creates = schedules_per_run(units / (target_s / 60) / DUE_SHARDS)
        bounds[f"Scheduler CreateSchedule ({SCHEDULER_CREATE_PER_S:,}/s)"] = SCHEDULER_CREATE_PER_S / creates
    if phase.name == "execute":  # all due in one minute: one bucket a shard
        fired = schedules_per_run(units / DUE_SHARDS)
        bounds[f"Scheduler invocations ({SCHEDULER_INVOCATIONS_PER_S:,}/s)"] = SCHEDULER_INVOCATIONS_PER_S / fired
        dispatch_s = sum(per.get(call, 0) * _latency_ms(call)
                         for call in ("sqs.SendMessageBatch", "dynamodb.Query")) / 1000
        bounds[f"time-bucket dispatchers ({DUE_SHARDS} a minute)"] = DUE_SHARDS / dispatch_s
    top = hottest(phase, 1.0, top=1)
    if top:
        key = top[0]
        bounds[f"DynamoDB partition {key.index} {key.key} ({key.kind})"] = key.limit / key.per_unit
    rate = min(bounds.values())
    bottleneck = min(bounds, key=bounds.get)
    used = totals(phase)
    emails = per.get("sesv2.SendEmail", 0)
    cost_per_unit = (used["write"] / phase.units * PRICES["wru"] + used["read"] / phase.units * PRICES["rru"]
                     + invocations * PRICES["lambda_request"] + lambda_s * LAMBDA_GB * PRICES["lambda_gb_s"]
                     + fired * PRICES["scheduler_invocation"]
                     + sum(count for call, count in per.items() if call.startswith("sqs.")) * PRICES["sqs_request"]
                     + emails * PRICES["ses_message"])
    hot = hottest(phase, RATES[phase.name], top=1)
    shown = f"{hot[0].index} {hot[0].key} {hot[0].kind} {hot[0].per_second:,.0f}/s of {hot[0].limit:,}" if hot else "-"
    return Estimate(phase.name, what, units, target_s, bounds, units / rate, bottleneck, units * cost_per_unit,
                    units * emails / SES_PER_S, shown)


def print_figures(size: int) -> None:
    phases = workload(size)
    print(f"\nScale model: a workload of {size:,} list joins (email an hour later), their {size:,} runs and a sweep of "
          f"{size:,} tickets (1 in {MATCHING_EVERY} matching), measured on the local runtime, then scaled")
    for name, phase in phases.items():
        per = ", ".join(f"{call} {count / phase.units:.2f}" for call, count in sorted(phase.calls.items()))
        invoked = ", ".join(f"{function} via {source} {count / phase.units:.3f}"
                            for (source, function), count in sorted(phase.invocations.items()))
        used = totals(phase)
        print(f"\n[{name}] per unit: {per}")
        print(f"[{name}] Lambda invocations per unit: {invoked}")
        print(f"[{name}] capacity per unit: {used['write'] / phase.units:.2f} write units, "
              f"{used['read'] / phase.units:.2f} read units")
    print(f"\nPartition check at the production rates ({', '.join(f'{p} {r:,.0f}/s' for p, r in RATES.items())}): "
          f"limits {WRITE_LIMIT:,} write / {READ_LIMIT:,} read units a second per key")
    print(f"{'phase':<9}{'kind':<7}{'index':<11}{'per s':>9}{'limit':>7}  key")
    for name, phase in phases.items():
        for key in hottest(phase, RATES[name], top=3):
            print(f"{name:<9}{key.kind:<7}{key.index:<11}{key.per_second:>9,.0f}{key.limit:>7,}  {key.key}")
    print(f"\n{'what':<70}{'time':>10}{'target':>9}  {'met':<4}{'cost USD':>10}  bottleneck")
    for name, phase in phases.items():
        e = estimate(phase)
        met = "yes" if e.seconds <= e.target_s else "NO"
        print(f"{e.what:<70}{_duration(e.seconds):>10}{_duration(e.target_s):>9}  {met:<4}{e.cost_usd:>10,.2f}  "
              f"{e.bottleneck}")
        others = ", ".join(f"{bound} {rate:,.0f}/s" for bound, rate in sorted(e.bounds.items(), key=lambda b: b[1]))
        print(f"    engine limits (units/s): {others}")
        if name == "execute":
            per_run = e.units / SCHEDULER_INVOCATIONS_PER_S
            verdict = "met" if per_run <= e.target_s else "missed"
            print(f"    with one schedule per run instead: Scheduler invocations ({SCHEDULER_INVOCATIONS_PER_S:,}/s) "
                  f"alone take {_duration(per_run)}: {verdict}, hence time buckets")
        if e.ses_s:
            print(f"    SES at {SES_PER_S}/s, separately: {_duration(e.ses_s)} for the mail")
    print("Assumed AWS call latencies (ms): " + ", ".join(f"{k} {v}" for k, v in LATENCY_MS.items())
          + f"; Lambda {LAMBDA_GB} GB arm64. Prices: us-east-1 list prices.")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"

