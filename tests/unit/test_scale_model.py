"""The scale model (local/automations_local/bench_scale.py): the caps it reads from a template and
a samconfig env, and how each AWS limit shapes a phase's time and names its binding constraint.
The phases here are made by hand (the bench measures real ones), so each limit can be isolated."""
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from automations_local import bench_scale
from automations_local.bench_scale import SES_INCREASE, SES_SANDBOX, Quotas, estimate, read_caps
from automations_local.heat import Phase
from automations_local.limits import samconfig_parameters

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String}
  WorkerMaxConcurrency: {Type: Number, Default: 10}
  WorkerReservedConcurrency: {Type: Number, Default: 0}
Conditions:
  HasWorkerReservedConcurrency: !Not [!Equals [!Ref WorkerReservedConcurrency, 0]]
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: PK, AttributeType: S}
        - {AttributeName: SK, AttributeType: S}
      KeySchema:
        - {AttributeName: PK, KeyType: HASH}
        - {AttributeName: SK, KeyType: RANGE}
%(warm)s
  Jobs:
    Type: AWS::SQS::Queue
  WorkerFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: worker/
      Handler: app.handler
      ReservedConcurrentExecutions: !If [HasWorkerReservedConcurrency, !Ref WorkerReservedConcurrency, !Ref AWS::NoValue]
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
            BatchSize: 10
            ScalingConfig:
              MaximumConcurrency: !Ref WorkerMaxConcurrency
"""

SAMCONFIG = """
version = 0.1
[default.deploy.parameters]
parameter_overrides = ["Stage=dev"]
[prod.deploy.parameters]
parameter_overrides = ["Stage=prod", "WorkerMaxConcurrency=%(concurrency)s", "WorkerReservedConcurrency=%(reserved)s"]
"""


def _caps(tmp_path: Path, concurrency: int = 40, reserved: int = 0, warm: str = "", env: str = "prod"):
    (tmp_path / "template.yaml").write_text(TEMPLATE % {"warm": warm})
    (tmp_path / "samconfig.toml").write_text(SAMCONFIG % {"concurrency": concurrency, "reserved": reserved})
    return read_caps(env, tmp_path / "template.yaml")


def _phase(name: str = "execute", units: int = 1000, *, seconds_each: float = 0.1, table_writes: float = 1.0,
           emails: float = 0.0, keys: int = 1000) -> Phase:
    """``units`` of work done by WorkerFunction from its queue, 10 a batch, each taking
    ``seconds_each`` of PutItem calls and writing ``table_writes`` units over ``keys`` partitions."""
    phase = Phase(name, units)
    phase.invocations[("queues", "WorkerFunction")] = units // 10
    # 6 ms a PutItem (LATENCY_MS), the invocations' overhead left out of seconds_each's count
    puts = round(units * seconds_each / 0.006) - round(units // 10 * bench_scale.LAMBDA_OVERHEAD_MS / 6)
    phase.calls["dynamodb.PutItem"] = puts
    phase.stage_calls[("queues", "WorkerFunction", "dynamodb.PutItem")] = puts
    if emails:
        phase.calls["sesv2.SendEmail"] = phase.stage_calls[("queues", "WorkerFunction", "sesv2.SendEmail")] = \
            round(units * emails)
    phase.writes = Counter({("table", f"KEY#{n}"): units * table_writes / keys for n in range(keys)})
    return phase


RICH = replace(Quotas(), **SES_INCREASE)  # SES out of the way unless a test is about it


def test_caps_come_from_the_template_and_the_chosen_samconfig_env(tmp_path):
    prod = _caps(tmp_path, concurrency=40, reserved=60)
    assert prod.env == "prod" and prod.sources["WorkerFunction"].maximum_concurrency == 40
    assert prod.sources["WorkerFunction"].queue == "Jobs" and prod.reserved == {"WorkerFunction": 60}
    dev = _caps(tmp_path, env="default")  # the template's defaults: 10, none reserved
    assert dev.sources["WorkerFunction"].maximum_concurrency == 10 and dev.reserved == {}


def test_the_shipped_prod_caps_are_the_ones_samconfig_deploys():
    caps = read_caps("prod")
    root = Path(bench_scale.__file__).resolve().parents[2]
    shipped = samconfig_parameters(root, "prod")
    assert caps.sources["RunExecutorFunction"].maximum_concurrency == int(shipped["RunExecutorMaxConcurrency"])
    assert caps.sources["EventsIngestFunction"].maximum_concurrency == int(shipped["QueueConsumerMaxConcurrency"])
    assert caps.reserved["RunExecutorFunction"] == int(shipped["RunExecutorReservedConcurrency"])
    assert caps.sources["SweepCoordinatorFunction"].maximum_concurrency == 2  # fixed in the template
    assert caps.api_rate == float(shipped["ApiThrottlingRateLimit"])


def test_halving_maximum_concurrency_doubles_the_time_and_names_the_event_source(tmp_path):
    phase = _phase(seconds_each=0.1)
    wide, narrow = (estimate(phase, _caps(tmp_path, concurrency=n), RICH) for n in (40, 20))
    assert wide.binding.startswith("WorkerFunction via queues Jobs (MaximumConcurrency 40")
    assert narrow.binding.startswith("WorkerFunction via queues Jobs (MaximumConcurrency 20")
    # 1,000,000 runs at 0.1 s each: 400/s, then 200/s (the ramp to 40 or 20 takes seconds)
    assert wide.seconds == pytest.approx(1_000_000 / 400, rel=0.01)
    assert narrow.seconds == pytest.approx(1_000_000 / 200, rel=0.01)
    # With room to scale, the queue no longer binds: the table's warm-up does.
    roomy = estimate(phase, _caps(tmp_path, concurrency=1000), RICH)
    assert roomy.binding.startswith("DynamoDB table throughput") and roomy.seconds < narrow.seconds / 10


def test_an_event_source_starts_at_five_and_adds_three_hundred_a_minute(tmp_path):
    phase = _phase(seconds_each=1.0, table_writes=0.001)  # a second a unit: concurrency = units a second
    result = estimate(phase, _caps(tmp_path, concurrency=900), RICH)
    # 5 + 5t a second until 900 at 179 s: 1,000,000 = (5*179 + 5*179**2/2) + 900*(T - 179)
    ramp = 179
    expected = ramp + (1_000_000 - (5 * ramp + 5 * ramp ** 2 / 2)) / 900
    assert result.seconds == pytest.approx(expected, rel=0.01)
    assert result.binding.startswith("WorkerFunction via queues")


def test_reserved_concurrency_caps_the_function_below_its_event_source(tmp_path):
    result = estimate(_phase(seconds_each=0.1), _caps(tmp_path, concurrency=40, reserved=10), RICH)
    assert result.binding == "WorkerFunction reserved concurrency (10)"
    assert result.seconds == pytest.approx(1_000_000 / 100, rel=0.01)


def test_a_new_table_warms_up_and_warm_throughput_in_the_template_lifts_it(tmp_path):
    phase = _phase(seconds_each=0.01, table_writes=20)  # 20 write units a run, fast functions
    cold = estimate(phase, _caps(tmp_path, concurrency=1000), RICH)
    # 4,000 write units a second at first: 200 runs a second, doubling every 30 minutes.
    assert cold.binding.startswith("DynamoDB table throughput (warm 4,000 W")
    assert 1800 < cold.seconds < 1_000_000 / 200
    warm = estimate(phase, _caps(tmp_path, concurrency=1000, warm="""
      WarmThroughput: {WriteUnitsPerSecond: 40000, ReadUnitsPerSecond: 12000}"""), RICH)
    assert warm.binding.startswith("DynamoDB table throughput (warm 40,000 W / 12,000 R by WarmThroughput")
    assert warm.seconds < cold.seconds / 3
    assert warm.seconds >= 1_000_000 / (40000 / 20)  # never past the table's 40,000 a second


def test_one_hot_partition_binds_at_a_thousand_write_units(tmp_path):
    phase = _phase(seconds_each=0.01, table_writes=1.0, keys=1)
    result = estimate(phase, _caps(tmp_path, concurrency=1000), RICH)
    assert result.binding == "DynamoDB partition table KEY#<n> (write, 1,000/s)"
    assert result.seconds == pytest.approx(1000, rel=0.01)


def test_ses_binds_by_its_rate_and_by_its_daily_quota(tmp_path):
    caps = _caps(tmp_path, concurrency=1000)
    phase = _phase(seconds_each=0.01, table_writes=0.001, emails=1.0)
    production = estimate(phase, caps, Quotas())  # 14 a second, 50,000 a day
    assert production.binding == "SES daily quota (production, starting quota: 50,000 a day)"
    assert production.seconds == 19 * 86400  # the 20th day's 50,000 start after 19 days
    sandbox = estimate(phase, caps, replace(Quotas(), **SES_SANDBOX))
    assert sandbox.binding.startswith("SES daily quota (sandbox: 200 a day)") and sandbox.seconds == 4999 * 86400
    raised = estimate(phase, caps, replace(Quotas(), ses_per_s=500, ses_per_day=2_000_000))
    assert raised.binding.startswith("SES sending rate") and raised.seconds == pytest.approx(2000, rel=0.01)


def test_write_units_per_unit_of_work_are_the_measured_ones(tmp_path):
    result = estimate(_phase(table_writes=7.5), _caps(tmp_path), RICH)
    assert result.write_units == pytest.approx(7.5)
