"""Every test layer (unit, handler, end-to-end): each AWS request is checked against its API
model, and each call a function makes against its IAM role as the template defines it (see
automations_local.aws_model_check and iam_coverage). A test fails on any violation or denial
recorded while it ran; the calls are also written to .aws-calls/ for `automations iam-report`."""
from __future__ import annotations

import os

import pytest
from support import ROOT, repo_template

from automations_local import aws_model_check, iam_coverage

# The local runtime the end-to-end tests start (in this process) reads the same flags.
os.environ.setdefault(aws_model_check.ENV_FLAG, "1")
os.environ.setdefault(iam_coverage.ENV_FLAG, "1")
os.environ.setdefault(iam_coverage.CALLS_DIR_ENV, str(ROOT / ".aws-calls"))
aws_model_check.install()
iam_coverage.enable(repo_template())


@pytest.fixture(autouse=True)
def _aws_checks():
    yield
    problems = aws_model_check.violations.take() + iam_coverage.denials.take()
    assert not problems, "AWS would refuse calls made in this test:\n" + "\n".join(problems)
