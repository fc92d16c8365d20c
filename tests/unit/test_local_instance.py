"""The local runtime's hold on its data folder and what it tells other processes there; the
banner's clock line; the first run's install message."""
from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from automations.clock import MovableClock
from automations_local import instance
from automations_local.cli import clock_text

ROOT = Path(__file__).resolve().parents[2]


def test_a_folder_is_held_by_one_runtime_and_published_for_the_cli(tmp_path):
    folder = tmp_path / "data"
    assert instance.running(folder) is None  # nothing there yet
    claim = instance.Claim(folder)
    try:
        assert instance.running(folder) is None  # starting: not serving yet
        with pytest.raises(instance.FolderInUse, match=rf"another local runtime \(process \d+\) is using the data "
                                                       rf"folder {folder.resolve()}"):
            instance.Claim(folder)
        claim.publish({"url": "http://127.0.0.1:1234", "api_key": "k"})
        assert instance.running(folder)["url"] == "http://127.0.0.1:1234"
        assert (folder / instance.INFO_FILE).stat().st_mode & 0o777 == 0o600  # it holds a key
    finally:
        claim.release()
    assert instance.running(folder) is None and not (folder / instance.INFO_FILE).exists()
    instance.Claim(folder).release()  # free again


def test_what_a_killed_runtime_left_is_not_believed(tmp_path):
    (tmp_path / instance.LOCK_FILE).write_text("4242")
    (tmp_path / instance.INFO_FILE).write_text(json.dumps({"url": "http://127.0.0.1:1"}))
    assert instance.running(tmp_path) is None  # the lock is free: no process holds it


@pytest.mark.parametrize("offset, text", [
    (timedelta(0), "2030-01-02 03:04:05 UTC (real time)"),
    (timedelta(days=1, hours=2, minutes=3, seconds=4), "2030-01-02 03:04:05 UTC, 1 d 2 h 3 min 4 s ahead of real time"),
    (timedelta(hours=-3), "2030-01-02 03:04:05 UTC, 3 h behind real time"),
])
def test_the_banner_says_how_far_the_clock_is_from_real_time(offset, text):
    shown = clock_text(datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc), offset)
    assert shown.startswith(text)
    assert ('{"real_time": true}' in shown) == bool(offset)


def test_a_moved_clock_returns_to_real_time():
    clock = MovableClock()
    clock.advance(86400)
    assert clock.offset > timedelta(hours=23)
    clock.to_real_time()
    assert abs(clock.offset) < timedelta(seconds=1)


def test_the_first_make_run_says_it_is_installing():
    # --no-print-directory: under `make test` this make is nested, and would name its directory first
    planned = subprocess.run(["make", "--no-print-directory", "--dry-run", "--always-make", ".venv/.installed"],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout
    first, *_ = planned.splitlines()
    assert first.startswith('echo "Installing the Python environment into .venv'), planned
