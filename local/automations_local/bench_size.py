"""The local runtime at the size of a real account (`automations bench --only snapshot|seed|soak`).

- snapshot: ``tickets`` open tickets, then for ``seconds`` one ticket updated every 200 ms while
  the automations are listed every 100 ms, over HTTP as a client would; the reads' latency with
  the state saved to disk, against the same with ``--ephemeral``, in the same run.
- seed: ``tickets`` tickets created through Zendesk's ``create_many`` (100 a request, as a
  client would send them), timed until every job is done.
- soak: ``cycles`` of a day's use (a contact created and joined to a list whose automation
  emails an hour later, a ticket created and solved; every 25 cycles the clock moves 30 minutes
  and due work runs), the runtime's memory sampled against the size of its saved state.
"""
from __future__ import annotations

import base64
import gc
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests

from automations_local.bench import rss_mb
from automations_local.runtime import LocalRuntime

WRITE_EVERY_S = 0.2
READ_EVERY_S = 0.1


def _session(runtime: LocalRuntime) -> requests.Session:
    session = requests.Session()
    token = base64.b64encode(f"{runtime.dev_email}/token:{runtime.dev_api_key}".encode()).decode()
    session.headers["Authorization"] = f"Basic {token}"
    return session


def _percentile(ordered: list[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def reads_under_writes(tickets: int, seconds: float, window_s: float = 10.0) -> dict:
    """Read latencies (ms) while one ticket is updated every 200 ms, with ``tickets`` in the
    table, in windows of ``window_s`` alternating between saving the state as usual and saving
    nothing (what --ephemeral leaves out): one process, one table, the machine's load alike on
    both sides. Also how long the saves held AWS calls."""
    from automations.adapters import aws
    from automations_local.bench import import_open_tickets

    with tempfile.TemporaryDirectory(prefix="automations-bench-state-") as data_dir, \
            LocalRuntime(port=0, data_dir=data_dir) as runtime:
        db, table = aws.client("dynamodb"), runtime.template.physical_name("Table")
        import_open_tickets(db, table, runtime.dev_account_id, tickets, None)
        state = runtime.state
        state.save()  # the import's items, before the measure
        holds: list[float] = []
        stop = threading.Event()

        def write() -> None:
            session, n = _session(runtime), 0
            while not stop.wait(WRITE_EVERY_S):
                n += 1
                answer = session.put(f"{runtime.base_url}/api/v2/tickets/{1 + n % tickets}.json",
                                     json={"ticket": {"status": "pending" if n % 2 else "open"}}, timeout=60)
                assert answer.status_code == 200, answer.text

        def watch_saves() -> None:
            seen = None
            while not stop.wait(0.02):
                if state.last_hold_s is not None and (state.last_save_s, state.last_hold_s) != seen:
                    seen = (state.last_save_s, state.last_hold_s)
                    holds.append(state.last_hold_s * 1000)

        threads = [threading.Thread(target=write, daemon=True), threading.Thread(target=watch_saves, daemon=True)]
        for thread in threads:
            thread.start()
        session, latencies = _session(runtime), {True: [], False: []}
        started_at = time.monotonic()
        while (elapsed := time.monotonic() - started_at) < seconds:
            saving = int(elapsed // window_s) % 2 == 0
            if saving:
                state.start()
            else:
                state.pause()
            started = time.perf_counter()
            answer = session.get(f"{runtime.base_url}/api/v2/automations.json", timeout=60)
            assert answer.status_code == 200, answer.text
            latencies[saving].append((time.perf_counter() - started) * 1000)
            time.sleep(max(0.0, READ_EVERY_S - (time.perf_counter() - started)))
        stop.set()
        for thread in threads:
            thread.join(60)
        state.start()
        disk = sum(path.stat().st_size for path in Path(data_dir).iterdir())
    rows = {}
    for saving, samples in latencies.items():
        ordered = sorted(samples)
        rows["saving" if saving else "not saving"] = {
            "reads": len(ordered), "p50": statistics.median(ordered), "p90": _percentile(ordered, 0.9),
            "p99": _percentile(ordered, 0.99), "max": ordered[-1]}
    return {**rows, "ratio_p99": rows["saving"]["p99"] / rows["not saving"]["p99"], "state_mb": disk / 2**20,
            "saves": len(holds), "hold_max_ms": max(holds, default=0.0),
            "hold_p50_ms": statistics.median(holds) if holds else 0.0}


def print_snapshot(tickets: int, seconds: float) -> None:
    r = reads_under_writes(tickets, seconds)
    print(f"\nSaved state under load: {tickets:,} tickets, one updated every 200 ms, the automations listed every "
          f"100 ms over HTTP for {seconds:.0f} s, in 10 s windows alternating between saving the state "
          f"({r['state_mb']:.0f} MB on disk) and not saving (as --ephemeral)")
    print(f"{'case':<12}{'reads':>7}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for case in ("not saving", "saving"):
        x = r[case]
        print(f"{case:<12}{x['reads']:>7}{x['p50']:>9.1f}{x['p90']:>9.1f}{x['p99']:>9.1f}{x['max']:>9.1f}")
    print(f"p99 ratio {r['ratio_p99']:.2f}   target <= 1.2;   {r['saves']} saves held AWS calls at most "
          f"{r['hold_max_ms']:.1f} ms (median {r['hold_p50_ms']:.2f} ms)")


class Account:
    """A client of the running runtime, as the dev account (native API with a bearer key,
    Zendesk with basic auth, the control API)."""

    def __init__(self, runtime: LocalRuntime) -> None:
        self.base_url, self.http = runtime.base_url, _session(runtime)
        self.bearer = {"Authorization": f"Bearer {runtime.dev_api_key}"}

    def call(self, method: str, path: str, expected: int = 200, native: bool = False, **kwargs) -> dict:
        answer = self.http.request(method, self.base_url + path, timeout=300,
                                   headers=self.bearer if native else None, **kwargs)
        assert answer.status_code == expected, f"{method} {path}: {answer.status_code} {answer.text[:300]}"
        return answer.json() if answer.content else {}


def soak(cycles: int, samples: int = 20, sampled: Callable[[dict], object] = lambda row: None) -> list[dict]:
    """``cycles`` of a day's use on a runtime saving its state; at ``samples`` points, the
    process's resident memory and the size of the state a restart would restore (the base with
    its journals folded in), each also given to ``sampled`` as it is taken."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="automations-soak-") as data_dir, \
            LocalRuntime(port=0, data_dir=data_dir) as runtime:
        client = Account(runtime)
        template = client.call("POST", "/v1/templates", 201, native=True, json={
            "title": "Welcome", "type": "email", "subject": "Welcome", "text": "Hi {{ contact.email }}"})
        group = client.call("POST", "/v1/contact-lists", 201, native=True, json={"name": "Newsletter"})
        client.call("POST", "/v1/automations", 201, native=True, json={
            "title": "An hour after joining", "trigger": "list_joined",
            "trigger_config": {"source": {"kind": "list", "id": group["id"]}, "delay": {"hours": 1}},
            "actions": [{"kind": "send_email", "template_id": template["id"]}]})
        every, started = max(1, cycles // samples), time.monotonic()
        for n in range(1, cycles + 1):
            contact = client.call("POST", "/v1/contacts", 201, native=True,
                                  json={"email": f"soak{n}@example.com", "first_name": f"Soak {n}"})
            client.call("POST", f"/v1/contact-lists/{group['id']}/members", native=True,
                        json={"contact_uuids": [contact["uuid"]]})
            ticket = client.call("POST", "/api/v2/tickets.json", 201, json={
                "ticket": {"subject": f"Soak {n}", "comment": {"body": "Hello"}}})["ticket"]
            client.call("PUT", f"/api/v2/tickets/{ticket['id']}.json", json={"ticket": {"status": "solved"}})
            if n % 25 == 0:
                client.call("POST", "/_local/clock", json={"advance_seconds": 1800})
                client.call("POST", "/_local/scheduler/tick", json={"timeout_s": 600})
            if n % every == 0 or n == 1:
                runtime.state.save()
                gc.collect()
                rows.append({"cycle": n, "rss_mb": rss_mb(), "state_mb": _saved_mb(data_dir),
                             "emails": _emails(runtime), "seconds": time.monotonic() - started})
                sampled(rows[-1])
    return rows


def _saved_mb(data_dir: str) -> float:
    """The size of the state a restart would restore (the base with its journals folded in), read
    by a process of its own: read here, its copy would be counted in the runtime's memory."""
    size = subprocess.run([sys.executable, "-c", _SAVED_SIZE, data_dir], capture_output=True, text=True, check=True)
    return int(size.stdout) / 2**20


_SAVED_SIZE = """import sys
from pathlib import Path
from automations_local import compaction
state = compaction.read_state(Path(sys.argv[1]))
print(sum(map(len, state.items.values())) + sum(map(len, state.services.values())))"""


def _emails(runtime: LocalRuntime) -> int:
    """Mail SES accepted so far (moto keeps the last 1,000: the count it keeps itself)."""
    from moto.ses.models import ses_backends

    from automations_local.template import ACCOUNT_ID

    return ses_backends[ACCOUNT_ID][runtime.template.region].sent_message_count


def print_soak(cycles: int) -> None:
    print(f"\nSoak: {cycles:,} cycles (a contact joins a list whose automation emails an hour later, a ticket is "
          "created and solved; every 25 cycles the clock moves 30 minutes and due work runs), over HTTP")
    print(f"{'cycle':>7}{'RSS MB':>9}{'state MB':>10}{'emails':>8}{'seconds':>9}", flush=True)
    rows = soak(cycles, sampled=lambda row: print(
        f"{row['cycle']:>7}{row['rss_mb']:>9.1f}{row['state_mb']:>10.1f}{row['emails']:>8}{row['seconds']:>9.0f}",
        flush=True))
    first, last = rows[0], rows[-1]
    growth, state_growth = last["rss_mb"] - first["rss_mb"], last["state_mb"] - first["state_mb"]
    print(f"memory grew {growth:.1f} MB while the saved state grew {state_growth:.1f} MB: "
          f"{growth / max(state_growth, 1e-9):.2f}x   target <= 2x (plus the constant it started from, "
          f"{first['rss_mb']:.0f} MB)")


def seed_rate(tickets: int, requesters: int = 500) -> dict:
    """``tickets`` created through create_many (100 a request, from ``requesters`` customers,
    each a new user at first sight), on a fresh runtime, timed until every job is done."""
    import random

    from automations_local import seed

    with LocalRuntime(port=0) as runtime:
        account = seed.Account(runtime.base_url, runtime.dev_email, runtime.dev_api_key)
        started, cpu = time.perf_counter(), time.process_time()
        seed.tickets(account, tickets, [f"customer{n}@example.com" for n in range(requesters)], random.Random(7))
        seconds = time.perf_counter() - started
    return {"tickets": tickets, "seconds": seconds, "per_s": tickets / seconds, "cpu_s": time.process_time() - cpu}


def print_seed(tickets: int) -> None:
    r = seed_rate(tickets)
    print(f"\nSeeding: {r['tickets']:,} tickets through Zendesk's create_many (100 a request, 500 requesters) in "
          f"{r['seconds']:.1f} s, {r['per_s']:,.0f} tickets/s ({r['cpu_s']:.1f} s of CPU)   target <= 60 s")
