"""The `automations` command as a new user meets it, each in processes of its own: the account and
key commands find the runtime `make run` started with no set-up and print the ids the next
command needs; one runtime per data folder; a taken port, a moved clock and a missing runtime
each say what is going on."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys

import pytest
import requests
from conftest import DRAINING_TIMEOUT, TIMEOUT

pytestmark = pytest.mark.e2e

CLI = "import sys; from automations_local.cli import main; sys.exit(main())"


def automations(*arguments: str, folder=None) -> subprocess.CompletedProcess:
    """The command, as from a fresh shell: no AWS settings, the data folder given or not."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AUTOMATIONS_")) and k != "TABLE_NAME"}
    if folder is not None:
        env["AUTOMATIONS_DATA_DIR"] = str(folder)
    return subprocess.run([sys.executable, "-c", CLI, *arguments], env=env, capture_output=True, text=True,
                          timeout=DRAINING_TIMEOUT)


def succeeded(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_account_commands_find_the_running_runtime_and_print_the_ids_they_need(serve, tmp_path):
    folder = tmp_path / "data"
    runtime = serve(env={"AUTOMATIONS_DATA_DIR": str(folder)}).ready()
    # On the runtime's clock, moved a year ahead: what the commands make is dated by it.
    moved = requests.post(f"{runtime.base_url}/_local/clock", json={"set": "2031-05-06T07:08:09Z"}, timeout=TIMEOUT)
    assert moved.status_code == 200

    created = succeeded(automations("accounts", "create", "Acme Support", "--email", "owner@acme.test",
                                    "--timezone", "Europe/Amsterdam", folder=folder))
    account_id = re.search(r"^Account: (acc_\w+) \(Acme Support, owner@acme.test, Europe/Amsterdam\)$", created,
                           re.M).group(1)
    first_key_id = re.search(r"^Key id:  (key_\w+) \(to revoke it: automations keys revoke \1\)$", created,
                             re.M).group(1)
    first_key = re.search(r"^API key: (\w+)$", created, re.M).group(1)
    assert f"{account_id}  Acme Support  owner@acme.test  Europe/Amsterdam" in succeeded(
        automations("accounts", "list", folder=folder))

    second_key_id = re.search(r"^Key id:  (key_\w+)", succeeded(automations("keys", "create", account_id,
                                                                             folder=folder)), re.M).group(1)
    assert succeeded(automations("keys", "revoke", first_key_id, folder=folder)) == f"Revoked {first_key_id}.\n"
    listed = succeeded(automations("keys", "list", account_id, folder=folder))
    assert f"{first_key_id}  created 2031-05-06 07:08 UTC  revoked" in listed
    assert f"{second_key_id}  created 2031-05-06 07:08 UTC  active" in listed
    assert first_key not in listed  # ids only, never a key

    exports = succeeded(automations("env", folder=folder))
    found = dict(re.findall(r"^export (\w+)=(\S+)$", exports, re.M))
    assert found["AUTOMATIONS_URL"] == runtime.base_url
    answer = requests.get(f"{found['AUTOMATIONS_URL']}/v1/automations", timeout=TIMEOUT,
                          auth=(found["AUTOMATIONS_EMAIL"], found["AUTOMATIONS_KEY"]))
    assert answer.status_code == 200, answer.text


def test_without_a_runtime_the_commands_say_how_to_start_one(tmp_path):
    for command in (["env"], ["accounts", "list"], ["keys", "list", "acc_x"]):
        done = automations(*command, folder=tmp_path / "none")
        assert done.returncode == 1 and "Traceback" not in done.stderr
        assert done.stderr == (f"automations: no local runtime is running with the data folder {tmp_path / 'none'}: "
                               "start one with `make run` (or give its --data-dir), or set AUTOMATIONS_TABLE to a "
                               "deployed table's name\n")


def test_one_runtime_per_data_folder(serve, tmp_path):
    folder = tmp_path / "data"
    first = serve("--data-dir", str(folder)).ready()
    second = automations("serve", "--port", "0", "--data-dir", str(folder))
    assert second.returncode == 1
    assert second.stderr == (f"automations: another local runtime (process {first.process.pid}) is using the data "
                             f"folder {folder.resolve()}: stop it first, or start this one with --data-dir DIR "
                             "(another folder) or --ephemeral\n")
    assert requests.get(f"{first.base_url}/_local/health", timeout=TIMEOUT).ok  # the first one is untouched


def test_a_taken_port_is_named_with_how_to_choose_another():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = automations("serve", "--ephemeral", "--port", str(port))
    assert done.returncode == 1
    assert done.stderr == (f"automations: port {port} on 127.0.0.1 is already in use (another runtime, or another "
                           f"program): stop it, or choose another port: PORT={port + 1} make run, or automations serve "
                           f"--port {port + 1}\n")


def test_the_banner_says_how_far_a_moved_clock_is_from_real_time(serve, tmp_path):
    folder = str(tmp_path / "data")
    first = serve("--data-dir", folder).ready()
    assert "Clock:" in "".join(first.output) and "(real time)" in "".join(first.output)
    moved = requests.post(f"{first.base_url}/_local/clock", json={"advance_seconds": 90061}, timeout=TIMEOUT)
    assert moved.json()["offset_seconds"] == 90061
    first.signal(15)

    again = serve("--data-dir", folder).ready()  # the moved clock is kept, and said
    banner = "".join(again.output)
    assert re.search(r"Clock: +\S+ \S+ UTC, 1 d 1 h 1 min( 1 s)? ahead of real time \(moved through /_local/clock; "
                     r'POST \{"real_time": true\} there to go back\)', banner), banner
    back = requests.post(f"{again.base_url}/_local/clock", json={"real_time": True}, timeout=TIMEOUT)
    assert back.status_code == 200 and back.json()["offset_seconds"] == 0
