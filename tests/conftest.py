"""Every test layer (unit, handler, end-to-end): each AWS request is checked against its API
model, and each call a function makes against its IAM role as the template defines it (see
automations_local.aws_model_check and iam_coverage). A test fails on any violation or denial
recorded while it ran; the calls are also written to .aws-calls/ for `automations iam-report`."""
from __future__ import annotations

import os

import pytest
from support import ROOT, mocked_aws, repo_template, share_botocore_data

from automations_local import aws_model_check, iam_coverage

# The local runtime the end-to-end tests start (in this process) reads the same flags.
os.environ.setdefault(aws_model_check.ENV_FLAG, "1")
os.environ.setdefault(iam_coverage.ENV_FLAG, "1")
os.environ.setdefault(iam_coverage.CALLS_DIR_ENV, str(ROOT / ".aws-calls"))
share_botocore_data()
aws_model_check.install()
iam_coverage.enable(repo_template())


@pytest.fixture(autouse=True)
def _aws_checks():
    yield
    problems = aws_model_check.violations.take() + iam_coverage.denials.take()
    assert not problems, "AWS would refuse calls made in this test:\n" + "\n".join(problems)


@pytest.fixture
def aws():
    """moto with the product template's resources (the unit and handler tests' AWS)."""
    with mocked_aws() as template:
        yield template


def pytest_terminal_summary(terminalreporter, config):
    """Where the run's time went, by layer: the sum of its tests' set-up, call and tear-down
    times (across the xdist workers, so more than the wall clock when they run side by side)."""
    spent: dict[str, float] = {}
    tests: dict[str, int] = {}  # by set-up reports: schemathesis's cases share one node id
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) not in ("setup", "call", "teardown"):
                continue
            layer = report.nodeid.split("/")[1] if report.nodeid.startswith("tests/") else "other"
            spent[layer] = spent.get(layer, 0.0) + report.duration
            tests[layer] = tests.get(layer, 0) + (report.when == "setup")
    if not spent:
        return
    terminalreporter.section("time by layer (set-up + call + tear-down, summed over workers)")
    for layer, seconds in sorted(spent.items()):
        terminalreporter.write_line(f"{layer:<10}{tests[layer]:>6} tests {seconds:>9.1f} s")
