"""The scale model (`automations bench --only scale`): a scaled workload on the local runtime,
measured, then turned into time and cost at a million under AWS's published quotas and the caps
the deployed stack sets itself.

The workload (``workload``): ``size`` contacts join one list whose automation sends an email an
hour later (phase "join": the API call, the ingestion queue, the runs and their schedules), the
runs fire and send (phase "execute": the scheduler, the executor, the deliveries), and a sweep of
``size`` open tickets of which 1 in 100 match a rule (phase "sweep"). heat.Recorder counts every
AWS call, Lambda invocation (and who invoked it) and DynamoDB capacity unit per partition key,
per phase.

The model (``estimate``) divides each count by the phase's units of work (joins, runs, tickets)
and turns every cap into units of work a second, at each second of the phase: each function's
concurrency (its SQS event source's ``MaximumConcurrency`` and scale-up, its reserved
concurrency, the account's unreserved pool, Lambda's scaling rate) over the Lambda-seconds a
unit takes in it; DynamoDB's table and index throughput (warm-up included) and its hottest
partition; EventBridge Scheduler, PutEvents, SES and the API's throttle. The phase runs at the
lowest of them each second; the one that held it lowest longest is its binding constraint.

The caps come from template.yaml and its nested stacks, resolved with a samconfig.toml env's
parameters (``read_caps``); the quotas are AWS's published defaults (``Quotas``, each with its
page). Latencies per AWS call, and prices, are stated assumptions (LATENCY_MS, PRICES)."""
from __future__ import annotations

import base64
import json
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

from automations_local.heat import READ_LIMIT, TABLE, WRITE_LIMIT, Phase, hottest, totals

MATCHING_EVERY = 100  # the sweep's rule matches 1 ticket in 100
PER_CALL = 100  # contacts per members call

# The targets of issue 22, as units of work in a time.
TARGETS = {  # phase -> (units, seconds, what)
    "join": (1_000_000, 20 * 60, "(a) plan 1,000,000 contacts joining one list with a delayed email"),
    "execute": (1_000_000, 10 * 60, "(b) execute and send 1,000,000 runs due in the same minute"),
    "sweep": (100_000, 5 * 60, "(c) sweep 100,000 open tickets"),
}
RATES = {phase: units / seconds for phase, (units, seconds, _) in TARGETS.items()}
WRITE_UNITS_PER_EMAIL_RUN = 12  # target: write units per executed email run


@dataclass(frozen=True)
class Quotas:
    """AWS's published default quotas in us-east-1 (where the figures are printed for), checked
    December 2026 against these pages:
    - Lambda, https://docs.aws.amazon.com/lambda/latest/dg/scaling-behavior.html: 1,000
      concurrent executions per account and Region; each function scales by at most 1,000
      execution environments every 10 seconds.
    - SQS event sources, https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html:
      "starts processing five batches at a time with five concurrent invocations", then "up to
      300 more instances per minute", at most 1,000 batches at once (and ``MaximumConcurrency``).
    - DynamoDB on-demand, https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode.html
      and .../warm-throughput.html: a new table (and a new GSI) sustains 4,000 write and 12,000
      read units a second "or a linear combination of both"; beyond twice its previous peak
      within 30 minutes it may throttle; 40,000 read and 40,000 write units per table by default
      (an account quota); each partition 1,000 write and 3,000 read units a second.
    - EventBridge Scheduler, https://docs.aws.amazon.com/scheduler/latest/UserGuide/scheduler-quotas.html:
      CreateSchedule 5,000 requests a second in the primary Regions (us-east-1 among them; 250
      elsewhere; older versions of the page said 1,000), invocations 1,000 a second.
    - EventBridge, https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html:
      PutEvents 10,000 requests a second in us-east-1 (2,400 in us-east-2, lower elsewhere).
    - SES, https://docs.aws.amazon.com/ses/latest/dg/quotas.html: the sandbox sends 1 message a
      second and 200 a day; out of it "this rate varies based on your specific use case": 14 a
      second and 50,000 a day are the usual starting production quota, used here.
    - API Gateway: 10,000 requests a second per account and Region, below any stage throttle."""

    lambda_concurrency: int = 1000
    lambda_scaling_per_10s: int = 1000
    sqs_initial: int = 5
    sqs_per_minute: int = 300
    sqs_max: int = 1000
    table_warm_write: int = 4000
    table_warm_read: int = 12000
    table_max_write: int = 40000
    table_max_read: int = 40000
    warm_doubling_s: int = 1800
    partition_write: int = WRITE_LIMIT
    partition_read: int = READ_LIMIT
    scheduler_creates_per_s: int = 5000
    scheduler_invocations_per_s: int = 1000
    put_events_per_s: int = 10000
    ses_per_s: float = 14
    ses_per_day: int = 50000
    ses_account: str = "production, starting quota"
    api_account_per_s: int = 10000


SES_SANDBOX = {"ses_per_s": 1, "ses_per_day": 200, "ses_account": "sandbox"}
# What docs/benchmarks.md names for the targets: SES raised on request to 2,000 a second and 1,000,000 a
# day, and the table and its indexes warm at 40,000 units a second (pre-warmed with
# WarmThroughput, a one-time charge, or warm from an earlier peak) instead of a new table's.
SES_INCREASE = {"ses_per_s": 2000, "ses_per_day": 1_000_000, "ses_account": "production, raised on request"}
PRE_WARMED = {"table_warm_write": 40000, "table_warm_read": 40000}

# Assumed AWS latency of one call from Lambda in the same Region, in ms (p50-ish).
LATENCY_MS = {"dynamodb": 6, "dynamodb.Query": 10, "dynamodb.BatchGetItem": 10, "dynamodb.TransactWriteItems": 20,
              "dynamodb.BatchWriteItem": 15, "scheduler": 30, "sqs": 10, "sesv2": 60, "sns": 40, "events": 20}
LAMBDA_OVERHEAD_MS = 5  # per invocation, warm
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
    from automations_local.api_gateway import HttpRequest

    headers = [("host", f"127.0.0.1:{runtime.port}"), ("authorization", auth), ("content-type", "application/json")]
    # The hour's upkeep (half past) costs per account in the stack, not per run: it fires between
    # the phases, not in one. Joining at a quarter to puts its instant between the sweep and the runs.
    _tick_at(runtime, _next(runtime.clock.now(), minute=45))
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
        _tick_at(runtime, _next(runtime.clock.now(), minute=30) + timedelta(seconds=1))
        runtime.clock.set(joined + timedelta(hours=1, seconds=90))  # every bucket due, the next sweep not yet
        with recorder.phase("execute", len(uuids)):
            runtime.scheduler.tick()
            _drain(runtime)


def _next(now: datetime, *, minute: int) -> datetime:
    """The first instant after ``now`` at ``minute`` past an hour."""
    at = now.replace(minute=minute, second=0, microsecond=0)
    return at if at > now else at + timedelta(hours=1)


def _tick_at(runtime, when: datetime) -> None:
    runtime.clock.set(when)
    runtime.scheduler.tick()
    _drain(runtime)


def _drain(runtime) -> None:
    report = runtime.queues.drain(1800)
    assert report.drained, report.backlog


# -- the caps the stack sets itself ---------------------------------------------------------------
@dataclass(frozen=True)
class EventSource:
    """A function's SQS event source."""

    queue: str  # its logical id
    maximum_concurrency: int | None  # ScalingConfig.MaximumConcurrency, None if unset


@dataclass(frozen=True)
class Throughput:
    """A table's or an index's on-demand settings: WarmThroughput and OnDemandThroughput, if set."""

    warm_read: int | None = None
    warm_write: int | None = None
    max_read: int | None = None
    max_write: int | None = None


@dataclass(frozen=True)
class Caps:
    """What the deployed stack caps: read from the templates with one samconfig env's parameters."""

    env: str
    reserved: dict[str, int]  # function -> ReservedConcurrentExecutions
    sources: dict[str, EventSource]  # function -> its SQS event source
    memory_mb: dict[str, int]  # function -> MemorySize
    api_rate: float  # the HTTP API stage's ThrottlingRateLimit (requests a second)
    api_burst: float
    api_functions: frozenset[str] = frozenset()  # the functions routes invoke (one invocation a request)
    throughput: dict[str, Throughput] = field(default_factory=dict)  # "table" or an index name -> settings


def read_caps(env: str = "prod", template_path: str | Path | None = None) -> Caps:
    """The caps of template.yaml (and the stacks it nests) deployed with samconfig.toml's ``env``."""
    from automations_local.limits import samconfig_parameters
    from automations_local.template import load_template

    probe = load_template(template_path)
    return caps_of(load_template(probe.path, parameters=samconfig_parameters(probe.root, env)), env)


def caps_of(template, env: str) -> Caps:
    """The caps of a loaded template (its parameters already the env's)."""
    reserved, sources = {}, {}
    queues = {queue.name: queue.logical_id for queue in template.queues}
    for logical_id, function in template.functions.items():
        value = template.resolved(logical_id).get("ReservedConcurrentExecutions")
        if value is not None:
            reserved[logical_id] = int(value)
        for event in function.events:
            if event.type == "SQS":
                scaling = event.properties.get("ScalingConfig") or {}
                maximum = scaling.get("MaximumConcurrency")
                queue = event.properties["Queue"].rsplit(":", 1)[-1]
                sources[logical_id] = EventSource(queues.get(queue, queue),
                                                  int(maximum) if maximum is not None else None)
    stages = [resource.properties.get("DefaultRouteSettings") or {}
              for resource in template.resources_of("AWS::ApiGatewayV2::Stage")]
    rates = [float(stage["ThrottlingRateLimit"]) for stage in stages if "ThrottlingRateLimit" in stage]
    bursts = [float(stage["ThrottlingBurstLimit"]) for stage in stages if "ThrottlingBurstLimit" in stage]
    throughput = {}
    for table in template.tables:
        throughput[TABLE] = _throughput(table.properties)
        for index in table.properties.get("GlobalSecondaryIndexes") or []:
            throughput[index["IndexName"]] = _throughput(index)
    return Caps(env, reserved, sources, {logical_id: function.memory_mb for logical_id, function
                                         in template.functions.items()},
                min(rates, default=math.inf), min(bursts, default=math.inf),
                frozenset(route.function_id for route in template.routes), throughput)


def _throughput(properties: dict) -> Throughput:
    warm, on_demand = properties.get("WarmThroughput") or {}, properties.get("OnDemandThroughput") or {}

    def number(settings: dict, name: str) -> int | None:
        return int(settings[name]) if settings.get(name) is not None and int(settings[name]) > 0 else None
    return Throughput(number(warm, "ReadUnitsPerSecond"), number(warm, "WriteUnitsPerSecond"),
                      number(on_demand, "MaxReadRequestUnits"), number(on_demand, "MaxWriteRequestUnits"))


# -- the model ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Limit:
    """A cap as units of work a second: ``steady`` once ramped up, ``ramp(t)`` at ``t`` seconds
    into the phase until ``ramped_by``."""

    name: str
    steady: float
    ramp: Callable[[float], float] | None = None
    ramped_by: float = 0.0

    def rate(self, t: float) -> float:
        return self.ramp(t) if self.ramp is not None and t < self.ramped_by else self.steady


@dataclass(frozen=True)
class Estimate:
    phase: str
    what: str
    units: int
    target_s: float
    limits: list[Limit]
    seconds: float
    binding: str  # the limit that held the phase lowest for the most units of work
    binding_share: float  # of the units of work
    cost_usd: float
    write_units: float  # per unit of work
    read_units: float


def schedules_per_run(runs_per_bucket: float) -> float:
    """Schedules made (and fired) per run when ``runs_per_bucket`` fall in each (minute, shard):
    one each for the first PER_RUN_SCHEDULES, then one for the bucket. The bench measures with
    every run in a bucket (a few hundred runs fill no bucket); this is what a million fill."""
    from automations.service.time_buckets import PER_RUN_SCHEDULES

    return (min(runs_per_bucket, PER_RUN_SCHEDULES) + (runs_per_bucket > PER_RUN_SCHEDULES)) / runs_per_bucket


def lambda_seconds(phase: Phase) -> dict[tuple[str, str], float]:
    """(invoked by, function) -> Lambda-seconds per unit of work, at the assumed call latencies."""
    seconds: Counter = Counter()
    for (source, function, call), count in phase.stage_calls.items():
        if function is not None:
            seconds[(source, function)] += count * _latency_ms(call) / 1000
    for stage, count in phase.invocations.items():
        seconds[stage] += count * LAMBDA_OVERHEAD_MS / 1000
    return {stage: value / phase.units for stage, value in seconds.items()}


def _sqs_concurrency(quotas: Quotas, cap: int) -> tuple[Callable[[float], float], float]:
    """An SQS event source's concurrency at t seconds, and when it reaches ``cap``."""
    ramped_by = max(0.0, (cap - quotas.sqs_initial) / quotas.sqs_per_minute * 60)
    return (lambda t: min(cap, quotas.sqs_initial + quotas.sqs_per_minute * t / 60)), ramped_by


def _scaled(concurrency: Callable[[float], float], per_unit: float) -> Callable[[float], float]:
    return lambda t: concurrency(t) / per_unit


def limits(phase: Phase, caps: Caps, quotas: Quotas, chains: dict[tuple[str, str], int] | None = None,
           rate_hint: float | None = None) -> list[Limit]:
    """Every cap on ``phase``, as units of work a second. ``chains``: (invoked by, function) ->
    how many independent chains of invocations the work is (each one step at a time, as the
    sweep's shards are), bounding that stage's concurrency; ``rate_hint``: the phase's units a
    second at scale, for the time buckets' fill."""
    from automations.adapters.shards import DUE_SHARDS

    found: list[Limit] = []
    seconds = lambda_seconds(phase)
    chains = chains or {}
    per_function: Counter = Counter()
    for (source, function), per_unit in seconds.items():
        per_function[function] += per_unit
    # Each stage: the function invoked by one source.
    for (source, function), per_unit in sorted(seconds.items()):
        if per_unit <= 0:
            continue
        name = f"{function} via {source}"
        bound = min(caps.reserved.get(function, quotas.lambda_concurrency), quotas.lambda_concurrency)
        if (source, function) in chains:
            bound = min(bound, chains[(source, function)])
        if source == "queues" and function in caps.sources:
            es = caps.sources[function]
            cap = min(bound, es.maximum_concurrency or quotas.sqs_max, quotas.sqs_max)
            ramp, ramped_by = _sqs_concurrency(quotas, cap)
            label = (f"{name} {es.queue} (MaximumConcurrency {es.maximum_concurrency or 'unset'}"
                     f"{', chains ' + str(chains[(source, function)]) if (source, function) in chains else ''})")
            found.append(Limit(label, cap / per_unit, _scaled(ramp, per_unit), ramped_by))
        elif (source, function) in chains:
            found.append(Limit(f"{name} ({chains[(source, function)]} chains)", bound / per_unit))
    # Each function: its reserved concurrency, and Lambda's scaling rate, over all its sources
    # (the first 10 s allow 1,000 environments: it binds only a function allowed more).
    for function, per_unit in sorted(per_function.items()):
        if function in caps.reserved:
            found.append(Limit(f"{function} reserved concurrency ({caps.reserved[function]:,})",
                               caps.reserved[function] / per_unit))
        top = min(caps.reserved.get(function, quotas.lambda_concurrency), quotas.lambda_concurrency)
        if top > quotas.lambda_scaling_per_10s:
            scaling = quotas.lambda_scaling_per_10s / 10
            found.append(Limit(f"{function} Lambda scaling ({quotas.lambda_scaling_per_10s:,} per 10 s)",
                               top / per_unit,
                               _scaled(lambda t, top=top: min(top, quotas.lambda_scaling_per_10s + scaling * t),
                                       per_unit), (top - quotas.lambda_scaling_per_10s) / scaling))
    unreserved = quotas.lambda_concurrency - sum(caps.reserved.values())
    shared = sum(per_unit for function, per_unit in per_function.items() if function not in caps.reserved)
    if shared:
        found.append(Limit(f"Lambda account concurrency ({unreserved:,} unreserved of {quotas.lambda_concurrency:,})",
                           unreserved / shared))
    # The API: the stage's throttle and the account's.
    requests = sum(count for (source, function), count in phase.invocations.items()
                   if source == "api_gateway" and function in caps.api_functions) / phase.units
    if requests:
        found.append(Limit(f"API stage throttle ({caps.api_rate:,.0f}/s)", caps.api_rate / requests))
        found.append(Limit(f"API Gateway account ({quotas.api_account_per_s:,}/s)", quotas.api_account_per_s / requests))
    # DynamoDB: the table and each index, read and write units in one budget, warming up.
    found += _dynamodb_limits(phase, caps, quotas)
    top = hottest(phase, 1.0, top=1)
    if top:
        key = top[0]
        limit = quotas.partition_write if key.kind == "write" else quotas.partition_read
        found.append(Limit(f"DynamoDB partition {key.index} {_family(key.key)} ({key.kind}, {limit:,}/s)",
                           limit / key.per_unit))
    # Scheduler, EventBridge, SES.
    per = {call: count / phase.units for call, count in phase.calls.items()}
    creates = per.get("scheduler.CreateSchedule", 0)
    if phase.name == "join" and creates and rate_hint:  # runs due an hour later, as they join
        creates = schedules_per_run(rate_hint * 60 / DUE_SHARDS)
    if creates:
        found.append(Limit(f"Scheduler CreateSchedule ({quotas.scheduler_creates_per_s:,}/s)",
                           quotas.scheduler_creates_per_s / creates))
    fired = sum(count for (source, _), count in phase.invocations.items() if source == "scheduler") / phase.units
    if phase.name == "execute" and fired:  # all due in one minute: one bucket a shard
        fired = schedules_per_run(TARGETS["execute"][0] / DUE_SHARDS)
    if fired:
        found.append(Limit(f"Scheduler invocations ({quotas.scheduler_invocations_per_s:,}/s)",
                           quotas.scheduler_invocations_per_s / fired))
    if per.get("events.PutEvents"):
        found.append(Limit(f"EventBridge PutEvents ({quotas.put_events_per_s:,}/s)",
                           quotas.put_events_per_s / per["events.PutEvents"]))
    if per.get("sesv2.SendEmail"):
        found.append(Limit(f"SES sending rate ({quotas.ses_account}: {quotas.ses_per_s:,}/s)",
                           quotas.ses_per_s / per["sesv2.SendEmail"]))
    return found


def _dynamodb_limits(phase: Phase, caps: Caps, quotas: Quotas) -> list[Limit]:
    writes, reads = Counter(), Counter()
    for (index, _), units in phase.writes.items():
        writes[index] += units / phase.units
    for (index, _), units in phase.reads.items():
        reads[index] += units / phase.units
    found = []
    for index in sorted(set(writes) | set(reads)):
        settings = caps.throughput.get(index, Throughput())
        top_write = min(settings.max_write or quotas.table_max_write, quotas.table_max_write)
        top_read = min(settings.max_read or quotas.table_max_read, quotas.table_max_read)
        warm_write = min(top_write, max(settings.warm_write or 0, quotas.table_warm_write))
        warm_read = min(top_read, max(settings.warm_read or 0, quotas.table_warm_read))

        def rate(t: float, w=writes[index], r=reads[index], ww=warm_write, wr=warm_read, tw=top_write,
                 tr=top_read) -> float:
            growth = 2 ** (t / quotas.warm_doubling_s)  # up to twice the previous peak each 30 minutes
            return 1 / (w / min(tw, ww * growth) + r / min(tr, wr * growth))
        doublings = max(math.log2(top_write / warm_write), math.log2(top_read / warm_read), 0)
        warm = (f"warm {warm_write:,} W / {warm_read:,} R"
                + (" by WarmThroughput" if settings.warm_write or settings.warm_read else " at first"))
        found.append(Limit(f"DynamoDB {index} throughput ({warm}, max {top_write:,} W / {top_read:,} R)",
                           rate(math.inf), rate, doublings * quotas.warm_doubling_s))
    return found


def _family(key: str) -> str:
    """A partition key with its account and numbers (shards, ids, seconds) as placeholders."""
    return re.sub(r"#\d+(?=#|$)", "#<n>", re.sub(r"acc_[0-9a-f]+", "<a>", key))


def duration(units: float, found: list[Limit]) -> tuple[float, Counter]:
    """Seconds to do ``units`` at the lowest limit each second, and the units each limit held back."""
    t, done, held = 0.0, 0.0, Counter()
    ramped_by = max((limit.ramped_by for limit in found), default=0.0)
    while done < units and t < ramped_by:
        rate, name = min((limit.rate(t), limit.name) for limit in found)
        step = min(1.0, (units - done) / rate)
        done, t = done + rate * step, t + step
        held[name] += rate * step
    if done < units:
        rate, name = min((limit.steady, limit.name) for limit in found)
        t += (units - done) / rate
        held[name] += units - done
    return t, held


def chains_of(phase: Phase) -> dict[tuple[str, str], int]:
    """The work each phase does in independent chains (one step at a time each): the sweep of one
    account's shards, a minute's time buckets dispatched one page after another."""
    from automations.adapters.shards import DUE_SHARDS
    from automations.domain.ticket import SWEEP_SHARDS

    return {"sweep": {("queues", "SweepWorkerFunction"): SWEEP_SHARDS},
            "execute": {("scheduler", "RunExecutorFunction"): DUE_SHARDS}}.get(phase.name, {})


def estimate(phase: Phase, caps: Caps, quotas: Quotas = Quotas()) -> Estimate:
    units, target_s, what = TARGETS[phase.name]
    found = limits(phase, caps, quotas, chains_of(phase), RATES[phase.name])
    seconds, held = duration(units, found)
    emails = phase.calls.get("sesv2.SendEmail", 0) / phase.units * units
    if emails > quotas.ses_per_day:  # the rest waits for the next days' quota
        days = math.ceil(emails / quotas.ses_per_day) - 1
        if days * 86400 > seconds:
            seconds, held = days * 86400, Counter({f"SES daily quota ({quotas.ses_account}: "
                                                   f"{quotas.ses_per_day:,} a day)": units})
    binding, bound = held.most_common(1)[0]
    used = totals(phase)
    per = {call: count / phase.units for call, count in phase.calls.items()}
    lambda_s = sum(value * caps.memory_mb.get(function, 512) / 1024
                   for (_, function), value in lambda_seconds(phase).items())  # GB-seconds per unit
    invocations = sum(phase.invocations.values()) / phase.units
    fired = sum(count for (source, _), count in phase.invocations.items() if source == "scheduler") / phase.units
    cost_per_unit = (used["write"] / phase.units * PRICES["wru"] + used["read"] / phase.units * PRICES["rru"]
                     + invocations * PRICES["lambda_request"] + lambda_s * PRICES["lambda_gb_s"]
                     + fired * PRICES["scheduler_invocation"]
                     + sum(count for call, count in per.items() if call.startswith("sqs.")) * PRICES["sqs_request"]
                     + per.get("sesv2.SendEmail", 0) * PRICES["ses_message"])
    return Estimate(phase.name, what, units, target_s, found, seconds, binding, bound / units,
                    units * cost_per_unit, used["write"] / phase.units, used["read"] / phase.units)


def write_families(phase: Phase, top: int = 8) -> list[tuple[str, str, float]]:
    """(index, key family, write units per unit of work), the most written first."""
    families: Counter = Counter()
    for (index, key), units in phase.writes.items():
        families[(index, _family(key))] += units / phase.units
    return [(index, family, units) for (index, family), units in families.most_common(top)]


def print_figures(size: int, env: str = "prod") -> None:
    caps = read_caps(env)
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
              f"{used['read'] / phase.units:.2f} read units; written most: "
              + ", ".join(f"{index} {family} {units:.2f}" for index, family, units in write_families(phase, 5)))
    print(f"\nPartition check at the target rates ({', '.join(f'{p} {r:,.0f}/s' for p, r in RATES.items())})")
    print(f"{'phase':<9}{'kind':<7}{'index':<11}{'per s':>9}{'limit':>7}  key")
    for name, phase in phases.items():
        for key in hottest(phase, RATES[name], top=3):
            print(f"{name:<9}{key.kind:<7}{key.index:<11}{key.per_second:>9,.0f}{key.limit:>7,}  {_family(key.key)}")
    reserved = ", ".join(f"{function} {n}" for function, n in sorted(caps.reserved.items())) or "none"
    concurrency = ", ".join(f"{function} {source.maximum_concurrency}" for function, source
                            in sorted(caps.sources.items()))
    print(f"\nCaps of samconfig env {env!r}: reserved concurrency {reserved}; SQS MaximumConcurrency {concurrency}; "
          f"API throttle {caps.api_rate:,.0f}/s (burst {caps.api_burst:,.0f})")
    for title, quotas in (("default quotas and a new table", Quotas()),
                          (f"SES raised to {SES_INCREASE['ses_per_s']:,}/s and {SES_INCREASE['ses_per_day']:,}/day, "
                           f"the table and its indexes warm at {PRE_WARMED['table_warm_write']:,} units/s",
                           replace(Quotas(), **SES_INCREASE, **PRE_WARMED))):
        print(f"\nWith {title} (us-east-1; SES {quotas.ses_account}: {quotas.ses_per_s:,}/s, "
              f"{quotas.ses_per_day:,}/day)")
        print(f"{'what':<66}{'time':>10}{'target':>9}  {'met':<4}{'cost USD':>9}  binding constraint")
        for name, phase in phases.items():
            e = estimate(phase, caps, quotas)
            met = "yes" if e.seconds <= e.target_s else "NO"
            print(f"{e.what:<66}{_duration(e.seconds):>10}{_duration(e.target_s):>9}  {met:<4}{e.cost_usd:>9,.2f}  "
                  f"{e.binding} ({e.binding_share:.0%} of the work)")
            ranked = sorted(e.limits, key=lambda limit: limit.steady)[:5]
            print("    lowest limits once ramped up (units/s): "
                  + "; ".join(f"{limit.name} {limit.steady:,.0f}" for limit in ranked))
            target = f" (target <= {WRITE_UNITS_PER_EMAIL_RUN})" if name == "execute" else ""
            print(f"    per unit of work: {e.write_units:.1f} write units{target}, {e.read_units:.1f} read units")
    sandbox = replace(Quotas(), **SES_SANDBOX)
    e = estimate(phases["execute"], caps, sandbox)
    print(f"\nIn the SES sandbox ({sandbox.ses_per_s}/s, {sandbox.ses_per_day}/day) {e.what[4:]}: "
          f"{_duration(e.seconds)}, {e.binding}")
    print("Assumed AWS call latencies (ms): " + ", ".join(f"{k} {v}" for k, v in LATENCY_MS.items())
          + f"; Lambda overhead {LAMBDA_OVERHEAD_MS} ms an invocation. Prices: us-east-1 list prices.")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"
