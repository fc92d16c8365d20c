"""`automations bench`: performance figures, each against a baseline measured in the same run.

- API latency: warm, in-process, through the full stack the local runtime serves (route match,
  authorizer, handler, DynamoDB on moto's server) for GET-one and list-100 automations, against
  a baseline handler doing one DynamoDB GetItem on the same backend (the list is also shown
  against a bare Query of the same 100 items, the floor of any list).
- Cold starts counted to the first answer (bench_cold_start.py): each function of the built
  artifact started in a fresh interpreter and invoked once with a realistic event, its AWS calls
  answered by the local runtime's moto server, against a minimal handler (import boto3, one
  GetItem): wall clock and CPU time (on a shared machine the wall clock also counts other
  processes' turns).
- Evaluation throughput of the sweep's evaluator (100 automations x 20,000 tickets), against a
  loop that only reads the same ticket fields.
- The end-to-end sweep of 10,000 tickets on the local runtime (no match: median of 3; warm functions),
  against a bare paged Query of the same index on the same backend, with the DynamoDB writes it
  made; with 1 in 100 matching, against the no-match sweep; and of 100,000 tickets with no match
  (section bigsweep).
- Memory over 10,000 transactional writes (section memory), and the cost of a list join at
  1,000 and at 10,000 contacts (section joins).
- The run engine (bench_runs.py): run creation against a bare put + CreateSchedule, and the
  firing lateness of 1,000 runs due across an hour.
- The local runtime at an account's size (bench_size.py): read latency while the state is saved
  (100,000 tickets), seeding 10,000 tickets through create_many, and (--only soak) memory over
  10,000 cycles of use against the size of the saved state.
- The scale model (bench_scale.py): a measured workload turned into time and cost at a million
  under AWS's quotas and the caps of a samconfig env (--scale-env, prod by default), with each
  phase's binding constraint, and the partition check at the target rates. Its figures are counts (AWS calls, invocations,
  capacity units), not times, so with other sections it runs beside them in a process of its own,
  on the machine's other core (every other section runs on one), and prints last.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ON_REQUEST = ["soak"]  # long: run only when named with --only (the sections: SECTION_FIGURES, below)


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _time(call: Callable[[], object], requests: int, warmup: int = 20) -> list[float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(requests):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def api_latency(requests: int) -> list[dict]:
    from automations.adapters import aws
    from automations.bootstrap import services
    from automations.domain.model import Action, AutomationDraft, Condition, Conditions
    from automations_local.api_gateway import HttpRequest
    from automations_local.runtime import LocalRuntime

    with LocalRuntime(port=0) as runtime:
        account_id = runtime.dev_account_id
        conditions = Conditions(all=(Condition("status", "is", "open"), Condition("OPEN", "greater_than", "24")))
        drafts = [AutomationDraft(title=f"Benchmark rule {i}", conditions=conditions,
                                  actions=(Action("current_tags", f"bench_{i}"),)) for i in range(100)]
        services().automations.create_many(account_id, drafts)
        auth = "Basic " + base64.b64encode(f"{runtime.dev_email}/token:{runtime.dev_api_key}".encode()).decode()
        headers = [("host", f"127.0.0.1:{runtime.port}"), ("authorization", auth)]

        def through_stack(target: str) -> Callable[[], object]:
            def call():
                response = runtime.gateway.handle(HttpRequest("GET", target, list(headers)))
                assert response.status == 200, response.body
            return call

        db, table = aws.client("dynamodb"), runtime.template.physical_name("Table")

        def baseline_handler(event, context):  # the floor: one GetItem and a JSON answer
            item = db.get_item(TableName=table, Key={"PK": {"S": f"ACCOUNT#{account_id}"},
                                                     "SK": {"S": "AUTOMATION#000000000005"}})["Item"]
            return {"statusCode": 200, "body": json.dumps(item)}

        def query_baseline_handler(event, context):  # the floor of a list: one Query of the same items
            items = db.query(TableName=table, KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
                             ExpressionAttributeValues={":pk": {"S": f"ACCOUNT#{account_id}"},
                                                        ":prefix": {"S": "AUTOMATION#"}},
                             ProjectionExpression="#d, version", ExpressionAttributeNames={"#d": "data"})["Items"]
            return {"statusCode": 200, "body": json.dumps(items)}

        get_item = _percentiles(_time(lambda: baseline_handler({}, None), requests))
        query = _percentiles(_time(lambda: query_baseline_handler({}, None), requests))
        rows = []
        for name, target, baselines in [
            ("GET one automation", "/api/v2/automations/5.json", [("GetItem", get_item)]),
            ("list 100 automations", "/api/v2/automations.json?page%5Bsize%5D=100",
             [("GetItem", get_item), ("Query 100", query)]),
        ]:
            p50, p99 = _percentiles(_time(through_stack(target), requests))
            for baseline_name, (base_p50, base_p99) in baselines:
                rows.append({"case": name, "baseline": baseline_name, "p50_ms": p50, "p99_ms": p99,
                             "baseline_p50_ms": base_p50, "baseline_p99_ms": base_p99, "ratio_p50": p50 / base_p50})
        return rows


def build_layer_for_host(target: Path) -> Path:
    """The core layer exactly as `sam build` makes it (layers/core/Makefile: wheels plus hash-based
    bytecode), but with this machine's wheels instead of arm64's, so its imports can be timed here."""
    import platform

    machine = {"x86_64": "x86_64", "AMD64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}[platform.machine()]
    subprocess.run(["make", "-s", "-C", str(ROOT / "layers" / "core"), "build-CoreLayer", f"PYTHON={sys.executable}",
                    f"PLATFORM=manylinux2014_{machine}", f"ARTIFACTS_DIR={target}"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return target / "python"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="automations bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=400, help="timed requests per case (default 400)")
    parser.add_argument("--import-repeats", type=int, default=3,
                        help="fresh interpreters per function in section imports, their median (default 3)")
    parser.add_argument("--function", action="append",
                        help="section imports: only this function directory (repeatable; default: all)")
    parser.add_argument("--snapstart", action="store_true",
                        help="section imports: from a SnapStart restore instead of a fresh interpreter")
    parser.add_argument("--tickets", type=int, default=10_000, help="tickets in the sweep benchmark (default 10000)")
    parser.add_argument("--contacts", type=int, default=500, help="joins in the run creation benchmark (default 500)")
    parser.add_argument("--due-runs", type=int, default=1000, help="runs in the firing lateness benchmark (default 1000)")
    parser.add_argument("--scale-size", type=int, default=10_000,
                        help="joins, runs and tickets in the scale model's workload (default 10000)")
    parser.add_argument("--scale-env", default="prod",
                        help="the samconfig.toml env whose caps the scale model applies (default prod)")
    parser.add_argument("--big-sweep-tickets", type=int, default=100_000,
                        help="tickets in the large no-match sweep (default 100000)")
    parser.add_argument("--writes", type=int, default=10_000, help="transactional writes in the memory benchmark")
    parser.add_argument("--snapshot-tickets", type=int, default=100_000,
                        help="tickets in the table while the state is saved under load (default 100000)")
    parser.add_argument("--snapshot-seconds", type=float, default=120, help="how long reads are timed (default 120)")
    parser.add_argument("--seed-tickets", type=int, default=10_000, help="tickets seeded through create_many")
    parser.add_argument("--soak-cycles", type=int, default=10_000, help="cycles of use in the soak (default 10000)")
    parser.add_argument("--only", choices=list(SECTION_FIGURES), action="append",
                        help=f"run only these sections (repeatable; default: all but {', '.join(ON_REQUEST)})")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--verbose", action="store_true", help="the functions' JSON log and metric lines on stderr")
    where.add_argument("--log-file", metavar="PATH", help="append the functions' JSON log and metric lines to PATH "
                                                          "(default: none; stdout has the figures only)")
    args = parser.parse_args(argv)
    sections = set(args.only or SECTIONS)
    _route_output(args)
    scale = None
    if "scale" in sections and len(sections) > 1:
        sections.discard("scale")
        output = ["--verbose"] if args.verbose else ["--log-file", args.log_file] if args.log_file else []
        scale = subprocess.Popen(
            [sys.executable, "-c", "import sys; from automations_local.bench import main; sys.exit(main())",
             "--only", "scale", "--scale-size", str(args.scale_size), "--scale-env", args.scale_env, *output], stdout=subprocess.PIPE, text=True)
    for name, figures in SECTION_FIGURES.items():
        if name in sections:
            started = time.monotonic()
            figures(args)
            # Where the time goes, off stdout (the figures'): a whole `make bench` is to take <= 30 min.
            print(f"bench: section {name} took {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    if scale is not None:
        figures, _ = scale.communicate()
        print(figures, end="", flush=True)
        return scale.returncode
    return 0


def _print_imports(args) -> None:
    from automations_local import bench_cold_start

    bench_cold_start.print_figures(args.import_repeats, set(args.function or ()) or None, args.snapstart)


def _print_evaluator(args) -> None:
    r = evaluator_throughput()
    print("\nSweep evaluator, in-process, one core: 100 automations x 20,000 tickets")
    print(f"evaluations/s {r['evaluations_per_second']:,.0f}   baseline (read the same fields) "
          f"{r['baseline_per_second']:,.0f}/s   time ratio {r['ratio']:.2f}"
          "   targets: >= 1,000,000/s and ratio <= 5")


def _print_sweep(args) -> None:
    print(f"\nEnd-to-end sweep on the local runtime ({args.tickets:,} open tickets, 8 shards, warm functions), "
          "against a bare paged Query of the SweepIndex (no match: the median of 3)")
    print(f"{'case':<24}{'sweep s':>9}{'query s':>9}{'ratio':>7}{'writes':>8}{'updated':>9}{'vs no match':>13}")
    for r in sweep_end_to_end(args.tickets, matching_every=100, repeats=3):
        print(f"{r['case']:<24}{r['sweep_s']:>9.2f}{r['query_s']:>9.2f}{r['ratio']:>7.2f}{r['writes']:>8}"
              f"{r['tickets_updated']:>9}{r['vs_no_match']:>13.2f}")
    print("targets: ratio <= 1.5 with no match; 1 in 100 matching <= 2x the no-match sweep")


def _print_big_sweep(args) -> None:
    [r] = sweep_end_to_end(args.big_sweep_tickets, matching_every=None)
    print(f"\nEnd-to-end sweep of {args.big_sweep_tickets:,} open tickets, no rule matches: {r['sweep_s']:.1f} s, "
          f"bare paged Query {r['query_s']:.1f} s, ratio {r['ratio']:.2f}   target <= 1.5")


def _print_memory(args) -> None:
    r = memory_over_writes(args.writes)
    print(f"\nMemory over {r['writes']:,} transactional writes (ticket creations, {r['automations']} automations "
          f"in the account): {r['rss_after_first_mb']:.0f} MB after the first tenth, {r['rss_end_mb']:.0f} MB "
          f"at the end, growth {r['growth_mb']:.0f} MB   target: within 100 MB")


def _print_joins(args) -> None:
    small, large = join_cost((1_000, 10_000))
    print(f"\nList joins: {small['per_join_ms']:.2f} ms per join for {small['joins']:,} contacts, "
          f"{large['per_join_ms']:.2f} ms for {large['joins']:,}, ratio "
          f"{large['per_join_ms'] / small['per_join_ms']:.2f}   target <= 1.5 (linear)")


def _print_runs(args) -> None:
    from automations_local import bench_runs

    bench_runs.print_figures(args.contacts, args.due_runs)


def _print_snapshot(args) -> None:
    from automations_local import bench_size

    bench_size.print_snapshot(args.snapshot_tickets, args.snapshot_seconds)


def _print_seed(args) -> None:
    from automations_local import bench_size

    bench_size.print_seed(args.seed_tickets)


def _print_soak(args) -> None:
    from automations_local import bench_size

    bench_size.print_soak(args.soak_cycles)


def _print_scale(args) -> None:
    from automations_local import bench_scale

    bench_scale.print_figures(args.scale_size, args.scale_env)


def _route_output(args) -> None:
    """The runtimes this process starts send the functions' lines where asked: stdout is the figures'."""
    from automations.telemetry import Output
    from automations_local.runtime import LocalRuntime

    if args.verbose:
        LocalRuntime.output = Output(sys.stderr)
    else:
        LocalRuntime.output = Output(open(args.log_file, "a", buffering=1, encoding="utf-8") if args.log_file  # noqa: SIM115
                                     else None)


def _print_api(args) -> None:
    print("API latency, warm, in-process through route + authorizer + handler + DynamoDB (moto server)")
    print(f"{'case':<24}{'p50 ms':>9}{'p99 ms':>9}  {'baseline':<10}{'base p50':>9}{'base p99':>9}{'p50 ratio':>11}")
    for r in api_latency(args.requests):
        print(f"{r['case']:<24}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}  {r['baseline']:<10}{r['baseline_p50_ms']:>9.2f}"
              f"{r['baseline_p99_ms']:>9.2f}{r['ratio_p50']:>11.2f}")
    print("target: p50 ratio <= 1.5")


def evaluator_throughput() -> dict:
    from automations_local import bench_evaluator

    return bench_evaluator.run()


def import_open_tickets(db, table: str, account_id: str, count: int, matching_every: int | None) -> None:
    """``count`` open tickets, 30 hours old, one in ``matching_every`` urgent (urgent_tickets_rule's),
    or none without ``matching_every``."""
    from datetime import timedelta

    from automations import clock
    from automations.adapters.dynamo_tickets import DynamoTicketStore
    from automations.domain.ticket import Ticket

    store = DynamoTicketStore(db, table)
    start = clock.now() - timedelta(hours=30)
    store.import_tickets(account_id, [
        Ticket.create(account_id, i, start, subject=f"Ticket {i}", status="open",
                      priority="urgent" if matching_every and i % matching_every == 0 else "normal")
        for i in store.allocate_ids(account_id, count)])


def urgent_tickets_rule():
    from automations.domain.model import Action, AutomationDraft, Condition, Conditions

    return AutomationDraft(title="Urgent open tickets get a tag", conditions=Conditions(all=(
        Condition("status", "is", "open"), Condition("priority", "is", "urgent"),
        Condition("OPEN", "greater_than", "24"))), actions=(Action("current_tags", "escalated"),))


def sweep_end_to_end(tickets: int, matching_every: int | None, repeats: int = 1) -> list[dict]:
    """A sweep of ``tickets`` open tickets through the local runtime (coordinator -> SQS ->
    workers), against a bare paged Query of the same SweepIndex on the same backend: the sweep's
    own Query (dynamo_tickets.sweep_query), its pages read and nothing else done. Rules
    match nothing, then (with ``matching_every``) one ticket in ``matching_every``. The no-match
    case is the median of ``repeats`` (query, sweep) pairs (a matching case once: its firings
    change the tickets), after a first cycle over no tickets that warms the functions'
    sandboxes (their imports are a cold start, not the sweep's cost)."""
    import requests

    from automations.adapters import aws
    from automations.adapters.dynamo_tickets import sweep_query
    from automations.bootstrap import services
    from automations.domain.model import Action, AutomationDraft, Condition, Conditions
    from automations.domain.ticket import SWEEP_SHARDS
    from automations.service.sweep import PAGE_SIZE
    from automations_local.runtime import LocalRuntime

    rows = []
    with LocalRuntime(port=0) as runtime:
        account_id, db = runtime.dev_account_id, aws.client("dynamodb")
        table = runtime.template.physical_name("Table")
        runtime.clock.advance(3600)
        requests.post(f"{runtime.base_url}/_local/sweep", json={"timeout_s": 900}, timeout=960).raise_for_status()
        import_open_tickets(db, table, account_id, tickets, matching_every)
        for i, status in enumerate(["pending", "hold", "new"]):  # rules for other statuses: decided by the index
            services().automations.create(account_id, AutomationDraft(
                title=f"{status} reminder", conditions=Conditions(all=(
                    Condition("status", "is", status), Condition(status.upper(), "greater_than", "24"))),
                actions=(Action("current_tags", f"late_{i}"),)))
        writes = []
        db.meta.events.register("before-call.dynamodb.TransactWriteItems", lambda **kw: writes.append(1))

        def bare_query() -> int:
            seen = 0
            for shard in range(SWEEP_SHARDS):
                kwargs = {"TableName": table, **sweep_query(account_id, shard), "Limit": PAGE_SIZE}
                while True:
                    page = db.query(**kwargs)
                    seen += len(page["Items"])
                    if "LastEvaluatedKey" not in page:
                        break
                    kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            return seen

        def sweep() -> dict:
            answer = requests.post(f"{runtime.base_url}/_local/sweep", json={"timeout_s": 900}, timeout=960)
            answer.raise_for_status()
            return answer.json()

        cases = [("no rule matches", None)]
        if matching_every:
            cases.append((f"1 in {matching_every} matches", urgent_tickets_rule()))
        for case, rule in cases:
            if rule is not None:
                services().automations.create(account_id, rule)
            bases, walls = [], []
            for _ in range(repeats if rule is None else 1):
                base_start = time.perf_counter()
                assert bare_query() == tickets
                bases.append(time.perf_counter() - base_start)
                runtime.clock.advance(3600)  # a new cycle
                writes.clear()
                sweep_start = time.perf_counter()
                summary = sweep()
                walls.append(time.perf_counter() - sweep_start)
            base, wall = statistics.median(bases), statistics.median(walls)
            rows.append({"case": case, "tickets": summary["tickets_evaluated"], "sweep_s": wall, "query_s": base,
                         "ratio": wall / base, "writes": len(writes), "tickets_updated": summary["tickets_updated"],
                         "vs_no_match": wall / rows[0]["sweep_s"] if rows else 1.0})
    return rows


def rss_mb() -> float:
    """This process's resident memory now (not its peak)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory_over_writes(writes: int, automations: int = 499) -> dict:
    """Resident memory over ``writes`` ticket creations (each a TransactWriteItems) through the
    full stack, in an account holding ``automations`` automations: after the first tenth, and
    at the end."""
    import gc

    from automations.bootstrap import services
    from automations.domain.model import Action, AutomationDraft, Condition, Conditions
    from automations_local.api_gateway import HttpRequest
    from automations_local.runtime import LocalRuntime

    with LocalRuntime(port=0) as runtime:
        runtime.scheduler.stop()
        runtime.queues.stop()
        conditions = Conditions(all=(Condition("status", "is", "open"), Condition("OPEN", "greater_than", "24")))
        for start in range(0, automations, 100):
            services().automations.create_many(runtime.dev_account_id, [
                AutomationDraft(title=f"Memory rule {i}", conditions=conditions, actions=(Action("current_tags", f"m{i}"),))
                for i in range(start, min(automations, start + 100))])
        auth = "Basic " + base64.b64encode(f"{runtime.dev_email}/token:{runtime.dev_api_key}".encode()).decode()
        headers = [("host", f"127.0.0.1:{runtime.port}"), ("authorization", auth), ("content-type", "application/json")]
        samples = {}
        for n in range(1, writes + 1):
            body = json.dumps({"ticket": {"subject": f"Ticket {n}", "comment": {"body": "Memory"}}}).encode()
            response = runtime.gateway.handle(HttpRequest("POST", "/api/v2/tickets.json", list(headers), body))
            assert response.status == 201, response.body
            if n in (writes // 10, writes):
                gc.collect()
                samples[n] = rss_mb()
    first, last = samples[writes // 10], samples[writes]
    return {"writes": writes, "automations": automations, "rss_after_first_mb": first, "rss_end_mb": last,
            "growth_mb": last - first}


def join_cost(sizes: tuple[int, ...]) -> list[dict]:
    """Seconds per contact joining a list, list by list of growing size (100 contacts a call)."""
    from automations_local.bench_runs import delayed_email_on_join, imported_contacts
    from automations_local.runtime import LocalRuntime

    rows = []
    with LocalRuntime(port=0) as runtime:
        runtime.scheduler.stop()
        runtime.queues.stop()
        wired, account_id, _, _ = delayed_email_on_join(runtime, delay_hours=24)
        uuids = imported_contacts(runtime, account_id, "join", max(sizes))
        for size in sizes:
            group = wired.contact_lists.create(account_id, f"Joins {size}")
            started = time.perf_counter()
            for start in range(0, size, 100):
                wired.contact_lists.add_members(account_id, group.id, uuids[start:start + 100])
            rows.append({"joins": size, "per_join_ms": (time.perf_counter() - started) * 1000 / size})
    return rows


SECTION_FIGURES: dict[str, Callable[[argparse.Namespace], None]] = {
    "api": _print_api, "imports": _print_imports, "evaluator": _print_evaluator, "sweep": _print_sweep,
    "bigsweep": _print_big_sweep, "memory": _print_memory, "joins": _print_joins, "runs": _print_runs,
    "snapshot": _print_snapshot, "seed": _print_seed, "scale": _print_scale, "soak": _print_soak}
SECTIONS = [name for name in SECTION_FIGURES if name not in ON_REQUEST]  # a whole run's, in order
