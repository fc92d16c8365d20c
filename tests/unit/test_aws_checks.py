"""The two checks every test layer runs: requests valid against the AWS API model, and each
function's calls allowed by its IAM role; and the template's own: every service that delivers to an
encrypted queue or topic can use its key. Each must be able to fail."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone

import boto3
import pytest
from botocore.exceptions import ParamValidationError
from support import repo_template

from automations.adapters.aws import client
from automations.adapters.scheduler import EventBridgeRunScheduler, retry_schedule_name
from automations.domain.run import Run, RunStatus, SubjectKind
from automations_local import aws_model_check, iam_coverage
from automations_local.iam_coverage import IamModel, Request, Statement, iam_requests
from automations_local.template import load_template

REGION = "us-east-1"
WHEN = datetime(2026, 11, 22, 9, tzinfo=timezone.utc)


def _run(attempts: int = 1) -> Run:
    return Run(account_id="acc_0123456789abcdef", id="run_0123456789abcdef01234567", automation_id=7,
               subject_kind=SubjectKind.CONTACT, subject_id="c1", occurrence="o", status=RunStatus.RUNNING,
               created_at=WHEN, updated_at=WHEN, due_at=WHEN, attempts=attempts, lease_until=WHEN)


def _scheduler(aws) -> EventBridgeRunScheduler:
    return EventBridgeRunScheduler(lambda: client("scheduler"), group=aws.physical_name("RunScheduleGroup"),
                                   executor_arn="arn:aws:lambda:us-east-1:123456789012:function:x",
                                   expander_arn="arn:aws:lambda:us-east-1:123456789012:function:y",
                                   role_arn=aws.get_att("SchedulerRole", "Arn"),
                                   dead_letter_arn=aws.get_att("ScheduleDeadLetterQueue", "Arn"))


# --- the API model ---------------------------------------------------------------------------------


def test_a_call_breaking_a_pattern_fails_and_is_recorded(aws):
    scheduler = boto3.session.Session(region_name=REGION).client("scheduler")
    with pytest.raises(ParamValidationError, match="ClientToken: 'run_1.retry1' does not match the pattern"):
        scheduler.create_schedule(Name="run_1.retry1", ClientToken="run_1.retry1", ScheduleExpression="at(2030-01-01T00:00:00)",
                                  FlexibleTimeWindow={"Mode": "OFF"},
                                  Target={"Arn": "arn:aws:lambda:us-east-1:123456789012:function:x",
                                          "RoleArn": "arn:aws:iam::123456789012:role/r"})
    assert aws_model_check.violations.take() == [
        "scheduler.CreateSchedule: ClientToken: 'run_1.retry1' does not match the pattern [a-zA-Z0-9-_]+"]


@pytest.mark.parametrize(("operation", "params", "problem"), [
    ("sqs.SendMessage", {"MessageBody": "x" * (256 * 1024 + 1)}, "MessageBody: 262145 bytes"),
    ("sqs.SendMessageBatch", {"Entries": [{"Id": str(i), "MessageBody": "é" * 45_000} for i in range(3)]},
     "Entries (their bodies together): 270000 bytes"),
    ("events.PutEvents", {"Entries": [{"Source": "s", "DetailType": "d", "Detail": "x" * 132_000}] * 2},
     "Entries (together): 264032 bytes"),
    ("scheduler.CreateSchedule", {"Target": {"Input": "x" * 300_000}}, "Target.Input: 300000 bytes"),
])
def test_payloads_over_256_kb_are_refused_as_aws_would(operation, params, problem):
    assert aws_model_check.payload_problems(operation, params) == [f"{problem}, more than the 256 KB AWS takes"]
    at_the_limit = {"sqs.SendMessage": {"MessageBody": "x" * 256 * 1024}, "sqs.SendMessageBatch": {"Entries": [
        {"Id": str(i), "MessageBody": "x" * (256 * 1024 // 4)} for i in range(4)]}}
    assert aws_model_check.payload_problems(operation, at_the_limit.get(operation, {})) == []


def test_a_batch_over_256_kb_fails_and_is_recorded(aws):
    sqs = boto3.session.Session(region_name=REGION).client("sqs")
    url = sqs.create_queue(QueueName="payloads")["QueueUrl"]
    with pytest.raises(ParamValidationError, match="more than the 256 KB AWS takes"):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x" * 100_000} for i in range(3)])
    assert aws_model_check.violations.take() == [
        "sqs.SendMessageBatch: Entries (their bodies together): 300000 bytes, more than the 256 KB AWS takes"]


def test_lengths_values_and_enums_nested_in_lists_and_maps():
    dynamodb = boto3.session.Session(region_name=REGION).client("dynamodb")
    shape = dynamodb.meta.service_model.operation_model("TransactWriteItems").input_shape
    problems = aws_model_check.validate(shape, {
        "TransactItems": [{"Put": {"TableName": "t" * 1025, "Item": {}}}] * 101,
        "ReturnConsumedCapacity": "SOME",
    })
    assert "TransactItems: 101 items, more than the maximum 100" in problems
    assert "TransactItems[100].Put.TableName: 1025 characters, more than the maximum 1024" in problems
    assert any(p.startswith("ReturnConsumedCapacity: 'SOME' is not one of") for p in problems)
    sqs = boto3.session.Session(region_name=REGION).client("sqs")
    receive = sqs.meta.service_model.operation_model("ReceiveMessage").input_shape
    assert aws_model_check.validate(receive, {"QueueUrl": "q", "MaxNumberOfMessages": 11}) == []  # unconstrained in the model


def test_retry_schedules_are_valid_in_aws(aws):
    run = _run(attempts=2)
    _scheduler(aws).schedule_retry(run)  # the conftest fails the test on any violation
    _scheduler(aws).schedule_retry(replace(run, moves=123, attempts=5))  # the longest name a run's retry has
    _scheduler(aws).schedule(run)
    assert retry_schedule_name(run) == f"run_0123456789abcdef01234567-retry2-{int(WHEN.timestamp())}"
    names = {s["Name"] for s in client("scheduler").list_schedules(GroupName=aws.physical_name("RunScheduleGroup"))["Schedules"]}
    assert names == {"run_0123456789abcdef01234567", f"run_0123456789abcdef01234567-retry2-{int(WHEN.timestamp())}",
                     f"run_0123456789abcdef01234567-moved123-retry5-{int(WHEN.timestamp())}"}


# --- IAM: the requests a call makes -------------------------------------------------------------------


def test_each_part_of_a_transaction_is_its_own_action():
    requests = iam_requests("dynamodb", "dynamodb", "TransactWriteItems", {"TransactItems": [
        {"Put": {"TableName": "T"}}, {"Update": {"TableName": "T"}}, {"Delete": {"TableName": "T"}},
        {"ConditionCheck": {"TableName": "U"}}]}, REGION)
    assert [(r.action, r.resource.rsplit(":", 1)[1]) for r in requests] == [
        ("dynamodb:PutItem", "table/T"), ("dynamodb:UpdateItem", "table/T"), ("dynamodb:DeleteItem", "table/T"),
        ("dynamodb:ConditionCheckItem", "table/U")]


def test_queries_batches_schedules_and_mail():
    (query,) = iam_requests("dynamodb", "dynamodb", "Query", {"TableName": "T", "IndexName": "GSI1"}, REGION)
    assert query.resource == "arn:aws:dynamodb:us-east-1:123456789012:table/T/index/GSI1"
    (batch,) = iam_requests("sqs", "sqs", "SendMessageBatch", {"QueueUrl": "http://127.0.0.1:5000/123456789012/q"}, REGION)
    assert (batch.action, batch.resource) == ("sqs:SendMessage", "arn:aws:sqs:us-east-1:123456789012:q")
    create, pass_role = iam_requests("scheduler", "scheduler", "CreateSchedule", {
        "Name": "n", "GroupName": "g", "Target": {"RoleArn": "arn:aws:iam::123456789012:role/r"}}, REGION)
    assert create.resource == "arn:aws:scheduler:us-east-1:123456789012:schedule/g/n"
    assert (pass_role.action, pass_role.resource, pass_role.context) == (
        "iam:PassRole", "arn:aws:iam::123456789012:role/r", (("iam:PassedToService", "scheduler.amazonaws.com"),))
    (mail,) = iam_requests("ses", "sesv2", "SendEmail", {"FromEmailAddress": "Shop <a@b.test>"}, REGION)
    assert (mail.action, mail.resource, mail.context) == (
        "ses:SendEmail", "arn:aws:ses:us-east-1:123456789012:identity/a@b.test", (("ses:FromAddress", "a@b.test"),))


# --- IAM: evaluation ------------------------------------------------------------------------------------


def _statement(**document) -> Statement:
    return Statement("test", 0, {"Effect": "Allow", **document})


def test_not_resource_not_action_and_conditions():
    sms = Request("sns.Publish", "sns:Publish", "*")
    topic = Request("sns.Publish", "sns:Publish", "arn:aws:sns:us-east-1:123456789012:t")
    phones_only = _statement(Action="sns:Publish", NotResource="arn:aws:sns:*:*:*")
    assert phones_only.matches(sms) and not phones_only.matches(topic)
    assert not _statement(NotAction="sns:*", Resource="*").matches(sms)
    mail = Request("sesv2.SendEmail", "ses:SendEmail", "arn:aws:ses:us-east-1:1:identity/a@b.test",
                   (("ses:FromAddress", "a@b.test"),))
    assert _statement(Action="ses:SendEmail", Resource="*", Condition={"StringEquals": {"ses:FromAddress": "a@b.test"}}).matches(mail)
    assert not _statement(Action="ses:SendEmail", Resource="*", Condition={"StringEquals": {"ses:FromAddress": "x@b.test"}}).matches(mail)
    assert not _statement(Action="ses:SendEmail", Resource="*", Condition={"StringEquals": {"ses:FeedbackAddress": "x"}}).matches(mail)
    assert _statement(Action="ses:sendemail", Resource="*", Condition={"StringNotLike": {"ses:FromAddress": "*@evil.test"}}).matches(mail)


def _template_calls(model: IamModel) -> dict[str, Request]:
    template = model.template
    schedule, pass_role = iam_requests("scheduler", "scheduler", "CreateSchedule", {
        "Name": "run_1-retry1", "GroupName": template.physical_name("RunScheduleGroup"),
        "Target": {"RoleArn": template.get_att("SchedulerRole", "Arn")}}, REGION)
    (mail,) = iam_requests("ses", "sesv2", "SendEmail", {"FromEmailAddress": template.parameter("SenderEmail")}, REGION)
    return {"schedule": schedule, "pass_role": pass_role, "mail": mail}


def test_the_template_allows_what_the_run_executor_needs_and_refuses_the_rest():
    model = iam_coverage.current_model()
    calls = _template_calls(model)
    for request in calls.values():
        assert model.decide("RunExecutorFunction", request).allowed, request
    wrong_sender = Request(calls["mail"].api, calls["mail"].action, calls["mail"].resource,
                           (("ses:FromAddress", "someone@else.test"),))
    assert not model.decide("RunExecutorFunction", wrong_sender).allowed
    assert not model.decide("RunExecutorFunction", Request("iam.x", "iam:PassRole", calls["pass_role"].resource)).allowed
    assert not model.decide("ZendeskListAutomationsFunction", calls["schedule"]).allowed


def test_removing_a_needed_policy_from_the_expanded_template_is_a_denial(aws):
    model = iam_coverage.current_model()
    expanded = iam_coverage.expand(model.template)
    role = expanded["Resources"]["RunExecutorFunctionRole"]["Properties"]
    role["Policies"] = [p for p in role["Policies"] if p["PolicyName"] != "RunExecutorFunctionRolePolicy2"]  # *RunStartingPolicy
    reduced = IamModel(model.template, {model.template.path: expanded})
    with iam_coverage.evaluating(reduced), iam_coverage.running("RunExecutorFunction"):
        _scheduler(aws).schedule_retry(_run())
    denials = iam_coverage.denials.take()
    assert denials == [
        f"RunExecutorFunction may not call scheduler.CreateSchedule: IAM denies scheduler:CreateSchedule on "
        f"arn:aws:scheduler:us-east-1:123456789012:schedule/{aws.physical_name('RunScheduleGroup')}/"
        f"run_0123456789abcdef01234567-retry1-{int(WHEN.timestamp())}. Grant scheduler:CreateSchedule on "
        f"arn:aws:scheduler:us-east-1:123456789012:schedule/{aws.physical_name('RunScheduleGroup')}/"
        f"run_0123456789abcdef01234567-retry1-{int(WHEN.timestamp())} to RunExecutorFunction's role in template.yaml (no Allow matches)",
        f"RunExecutorFunction may not call scheduler.CreateSchedule: IAM denies iam:PassRole on "
        f"{aws.get_att('SchedulerRole', 'Arn')}, iam:PassedToService=scheduler.amazonaws.com. Grant iam:PassRole on "
        f"{aws.get_att('SchedulerRole', 'Arn')} to RunExecutorFunction's role in template.yaml (no Allow matches)",
    ]


def test_calls_evaluated_against_a_tests_own_policies_stay_out_of_the_report(aws, tmp_path, monkeypatch):
    """`automations iam-report` judges the recorded calls by the template's policies: a call a
    test evaluated against policies of its own (another table, a removed grant) is not recorded."""
    monkeypatch.setenv(iam_coverage.CALLS_DIR_ENV, str(tmp_path))
    model = iam_coverage.current_model()
    with iam_coverage.running("RunExecutorFunction"):
        _scheduler(aws).schedule_retry(_run())
    recorded = iam_coverage.read_calls(tmp_path)
    assert recorded and {function for function, _ in recorded} == {"RunExecutorFunction"}
    for path in tmp_path.glob("calls-*.jsonl"):
        path.unlink()
    iam_coverage._written.clear()
    with iam_coverage.evaluating(IamModel(model.template)), iam_coverage.running("RunExecutorFunction"):
        _scheduler(aws).schedule_retry(_run())
    assert iam_coverage.read_calls(tmp_path) == []


def test_a_nested_stacks_role_gets_the_managed_policy_its_parent_passes():
    """PiggyCreateRunFunction (stacks/piggy.yaml) names RunStartingPolicy by the ARN template.yaml
    passes it as a parameter: its statements are the core stack's policy."""
    model = iam_coverage.current_model()
    schedule = _template_calls(model)["schedule"]
    assert model.decide("PiggyCreateRunFunction", schedule).allowed
    piggy = model.template.stack_of("PiggyCreateRunFunction")
    expanded = iam_coverage.expand(piggy)
    role = expanded["Resources"]["PiggyCreateRunFunctionRole"]["Properties"]
    role["ManagedPolicyArns"].remove({"Ref": "RunStartingPolicyArn"})
    reduced = IamModel(model.template, {piggy.path: expanded})
    decision = reduced.decide("PiggyCreateRunFunction", schedule)
    assert not decision.allowed
    assert "to PiggyCreateRunFunction's role in piggy.yaml" in reduced.explain("PiggyCreateRunFunction", schedule, decision)


def test_an_explicit_deny_wins():
    model = iam_coverage.current_model()
    expanded = iam_coverage.expand(model.template)
    expanded["Resources"]["RunExecutorFunctionRole"]["Properties"].setdefault("Policies", []).append(
        {"PolicyName": "NoSchedules", "PolicyDocument": {"Statement": [
            {"Effect": "Deny", "Action": "scheduler:*", "Resource": "*"}]}})
    reduced = IamModel(model.template, {model.template.path: expanded})
    request = _template_calls(model)["schedule"]
    decision = reduced.decide("RunExecutorFunction", request)
    assert not decision.allowed
    assert "explicit Deny in NoSchedules statement 0" in reduced.explain("RunExecutorFunction", request, decision)


def test_the_report_lists_grants_no_call_used():
    model = iam_coverage.current_model()
    calls = [("RunExecutorFunction", request) for request in _template_calls(model).values()]
    result = iam_coverage.report(model, calls)
    assert result.denials == []
    unused = result.unused["RunExecutorFunction"]
    assert any("scheduler:DeleteSchedule" in line for line in unused)
    assert not any("scheduler:CreateSchedule" in line for line in unused)
    assert "ZendeskListAutomationsFunction" in result.silent
    denied = iam_coverage.report(model, [("ZendeskListAutomationsFunction", calls[0][1])])
    assert denied.denials and denied.denials[0].startswith("ZendeskListAutomationsFunction may not call")


def test_iam_report_command(tmp_path, capsys):
    from automations_local.cli import main

    model = iam_coverage.current_model()
    calls = _template_calls(model)
    lines = [{"function": "RunExecutorFunction", **calls["schedule"].to_json()},
             {"function": "ZendeskListAutomationsFunction", **calls["mail"].to_json()}]
    (tmp_path / "calls-1.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert main(["iam-report", "--calls", str(tmp_path), "--template", str(model.template.path)]) == 1
    out = capsys.readouterr().out
    assert "DENIED (1):\n  ZendeskListAutomationsFunction may not call sesv2.SendEmail: IAM denies ses:SendEmail" in out
    assert "  RunExecutorFunction\n" in out and "    RunStartingPolicy: sqs:SendMessage\n" in out
    assert main(["iam-report", "--calls", str(tmp_path / "none")]) == 1  # nothing recorded: say so


# --- keys the delivering services can use ----------------------------------------------------------

KEYS_SAMPLE = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Key:
    Type: AWS::KMS::Key
    Properties:
      KeyPolicy:
        Statement:
          - {Effect: Allow, Principal: {AWS: !Sub "arn:aws:iam::${AWS::AccountId}:root"}, Action: "kms:*", Resource: "*"}
          - Effect: Allow
            Principal: {Service: cloudwatch.amazonaws.com}
            Action: [kms:Decrypt, kms:GenerateDataKey*]
            Resource: "*"
            Condition: {StringEquals: {aws:SourceAccount: !Ref AWS::AccountId}}
  Topic:
    Type: AWS::SNS::Topic
    Properties: {KmsMasterKeyId: !Ref Key}
  ManagedTopic:
    Type: AWS::SNS::Topic
    Properties: {KmsMasterKeyId: alias/aws/sns}
  Queue:
    Type: AWS::SQS::Queue
    Properties: {KmsMasterKeyId: alias/aws/sqs}
  KeyedQueue:
    Type: AWS::SQS::Queue
    Properties: {KmsMasterKeyId: !GetAtt Key.Arn}
  PlainQueue:
    Type: AWS::SQS::Queue
    Properties: {SqsManagedSseEnabled: true}
  Alarm:
    Type: AWS::CloudWatch::Alarm
    Properties: {AlarmActions: [!Ref Topic], OKActions: [!Ref ManagedTopic]}
  Rule:
    Type: AWS::Events::Rule
    Properties:
      Targets: [{Id: q, Arn: !GetAtt Queue.Arn, DeadLetterConfig: {Arn: !GetAtt PlainQueue.Arn}}]
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/worker/
      Handler: app.handler
      Events:
        Hourly:
          Type: ScheduleV2
          Properties: {ScheduleExpression: rate(1 hour), DeadLetterConfig: {Arn: !GetAtt KeyedQueue.Arn}}
"""


def test_deliveries_to_keys_their_service_cannot_use_are_found(tmp_path):
    path = tmp_path / "template.yaml"
    path.write_text(KEYS_SAMPLE)
    assert aws_model_check.delivery_key_problems(load_template(path)) == [
        "Alarm.OKActions delivers (cloudwatch.amazonaws.com) to ManagedTopic, encrypted with the AWS-managed key "
        "alias/aws/sns, which cloudwatch.amazonaws.com cannot use: give it a customer-managed key whose policy "
        "allows the service",
        "Rule.Targets[].Arn delivers (events.amazonaws.com) to Queue, encrypted with the AWS-managed key "
        "alias/aws/sqs, which events.amazonaws.com cannot use: give it a customer-managed key whose policy "
        "allows the service",
        "Worker.Hourly.DeadLetterConfig.Arn delivers (scheduler.amazonaws.com) to KeyedQueue, whose key Key does "
        "not allow scheduler.amazonaws.com kms:GenerateDataKey",
        "Worker.Hourly.DeadLetterConfig.Arn delivers (scheduler.amazonaws.com) to KeyedQueue, whose key Key does "
        "not allow scheduler.amazonaws.com kms:Decrypt",
    ]  # Alarm.AlarmActions to Topic: its key lets CloudWatch in; the rule's dead letters are unencrypted by KMS


def test_a_key_policy_scoped_to_another_account_lets_no_alarm_in(tmp_path):
    path = tmp_path / "template.yaml"
    path.write_text(KEYS_SAMPLE.replace("aws:SourceAccount: !Ref AWS::AccountId", "aws:SourceAccount: '999999999999'"))
    problems = aws_model_check.delivery_key_problems(load_template(path))
    assert "Alarm.AlarmActions delivers (cloudwatch.amazonaws.com) to Topic, whose key Key does not allow " \
           "cloudwatch.amazonaws.com kms:GenerateDataKey" in problems


def test_every_service_delivering_for_the_product_can_use_the_key_it_meets():
    assert aws_model_check.delivery_key_problems(repo_template()) == []
