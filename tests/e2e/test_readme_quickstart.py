"""The README's quick start is a test: its shell blocks, pasted in order into bash against a fresh
runtime, all succeed and send the emails the README says they send. An example that drifts from
the product (a renamed field, a changed path, a status code) fails here."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SECTION = "## Quick start"
SENT = ["Still stuck with My printer is on fire?", "Welcome, Grace!", "Your voucher WELCOME10",
        "Thank you for order A-1001"]  # the subjects of the four scenarios' emails, as the README says


def shell_blocks(readme: str) -> list[str]:
    section = readme.split(f"\n{SECTION}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```bash\n(.*?)^```", section, re.S | re.M)


def run_quick_start(blocks: list[str], serve, folder: Path) -> subprocess.CompletedProcess:
    """The first block is the first terminal's `make run`: here the runtime it starts (the install
    aside), on a free port and its own data folder. The others go to one bash, as pasted."""
    assert blocks[0].strip() == "make run", blocks[0]
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AUTOMATIONS_"))}
    environment["AUTOMATIONS_DATA_DIR"] = str(folder)  # where `automations env` finds this runtime
    serve(env={"AUTOMATIONS_DATA_DIR": str(folder)}).ready()
    return subprocess.run(["bash", "-c", "set -euo pipefail\n" + "\n".join(blocks[1:])], cwd=ROOT,
                          env=environment, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900)


def test_the_quick_start_works_as_pasted(serve, tmp_path):
    blocks = shell_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(blocks) == 6, "make run, the set-up, and one scenario per surface"
    done = run_quick_start(blocks, serve, tmp_path / "data")
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    for subject in SENT:
        assert f'"subject": "{subject}"' in done.stdout, done.stdout

