"""What template.yaml promises an operator: alarms that notify, bounded consumers, a failure
destination for every asynchronous invocation, a dashboard that parses, names that let two stacks
share an account, and a samconfig.toml that SAM accepts and whose overrides the template takes."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from automations_local.template import load_template

ROOT = Path(__file__).resolve().parents[2]
# Event sources through which Lambda invokes a function asynchronously.
ASYNC_EVENT_TYPES = {"ScheduleV2", "Schedule", "EventBridgeRule", "CloudWatchEvent", "SNS", "S3"}


@pytest.fixture(scope="module")
def template():
    return load_template(ROOT / "template.yaml")


def _of_type(template, type_: str) -> dict[str, dict]:
    return {logical_id: template.resolve(resource.get("Properties") or {})
            for logical_id, resource in template.resources.items() if resource["Type"] == type_}


def test_every_alarm_notifies_the_alarm_topic_when_it_fires_and_when_it_clears(template):
    topic = template.ref("AlarmTopic")
    alarms = {name: alarm for name, alarm in _of_type(template, "AWS::CloudWatch::Alarm").items()
              if "ExecutedVersion" not in str(alarm.get("Dimensions"))}  # a canary's rollback: sam deploy reports it
    assert len(alarms) >= 14
    silent = {name for name, alarm in alarms.items()
              if topic not in alarm.get("AlarmActions", []) or topic not in alarm.get("OKActions", [])}
    assert not silent, f"alarms without AlarmActions and OKActions to the alarm topic: {sorted(silent)}"


def test_the_alarm_topic_mails_the_alarm_email_only_when_one_is_given():
    assert "AlarmEmailSubscription" not in load_template(ROOT / "template.yaml").resources
    given = load_template(ROOT / "template.yaml", parameters={"AlarmEmail": "ops@example.com"})
    subscription = given.resolve(given.resources["AlarmEmailSubscription"]["Properties"])
    assert subscription["Endpoint"] == "ops@example.com" and subscription["Protocol"] == "email"


def test_every_sqs_event_source_has_a_maximum_concurrency(template):
    sources = template.events("SQS")
    assert len(sources) >= 4
    unbounded = [f"{e.function_id}.{e.name}" for e in sources
                 if not isinstance((e.properties.get("ScalingConfig") or {}).get("MaximumConcurrency"), (int, str))]
    assert not unbounded, f"SQS event sources without ScalingConfig.MaximumConcurrency: {unbounded}"
    for event in sources:
        assert 2 <= int(event.properties["ScalingConfig"]["MaximumConcurrency"]) <= 1000


def _scheduler_targets(template) -> set[str]:
    """Functions the Scheduler role may invoke (the run and rule schedules made at runtime)."""
    arns = set()
    for policy in template.resolve(template.resources["SchedulerRole"]["Properties"])["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            if "lambda:InvokeFunction" in str(statement["Action"]):
                resources = statement["Resource"]
                arns.update([resources] if isinstance(resources, str) else resources)
    return {name for name in template.functions if template.arn(name) in arns}


def test_every_asynchronously_invoked_function_has_a_failure_destination(template):
    asynchronous = _scheduler_targets(template) | {e.function_id for e in template.events(*ASYNC_EVENT_TYPES)}
    assert {"RunExecutorFunction", "RuleExpanderFunction", "SweepCoordinatorFunction"} <= asynchronous
    failure_queue = template.arn("AsyncFailureQueue")
    for name in sorted(asynchronous):
        function = template.functions[name]
        assert function.on_failure_arn == failure_queue, f"{name} has no OnFailure destination"
        config = template.resolve(template.resources[name]["Properties"]["EventInvokeConfig"])
        assert config["MaximumRetryAttempts"] == function.async_retries <= 2 and config["MaximumEventAgeInSeconds"] >= 60
    alarmed = {json.dumps(alarm.get("Dimensions")) for alarm in _of_type(template, "AWS::CloudWatch::Alarm").values()}
    assert json.dumps([{"Name": "QueueName", "Value": template.physical_name("AsyncFailureQueue")}]) in alarmed


def test_schedules_made_before_the_alias_fail_to_the_same_destination(template):
    """A schedule made before the functions had their live alias targets the bare function, so
    $LATEST (always the newest code) runs it; SAM's EventInvokeConfig is the alias's only, and
    without one of its own $LATEST's failures would go nowhere after Lambda's default retries."""
    latest = {(config["FunctionName"], config.get("Qualifier")): config
              for config in _of_type(template, "AWS::Lambda::EventInvokeConfig").values()}
    targets = _scheduler_targets(template)
    assert targets == {"RunExecutorFunction", "RuleExpanderFunction"}
    for name in sorted(targets):
        alias = template.resolve(template.resources[name]["Properties"]["EventInvokeConfig"])
        config = latest.get((template.ref(name), "$LATEST"))
        assert config, f"{name}: no EventInvokeConfig for $LATEST"
        assert config["MaximumRetryAttempts"] == alias["MaximumRetryAttempts"], name
        assert config["MaximumEventAgeInSeconds"] == alias["MaximumEventAgeInSeconds"], name
        assert config["DestinationConfig"] == {"OnFailure": {"Destination": template.arn("AsyncFailureQueue")}}, name


def test_the_http_api_is_throttled_and_background_concurrency_is_a_parameter(template):
    stage = _of_type(template, "AWS::ApiGatewayV2::Stage")["ApiStage"]
    assert stage["DefaultRouteSettings"] == {"ThrottlingRateLimit": 100, "ThrottlingBurstLimit": 200}
    executor = template.resolve(template.resources["RunExecutorFunction"]["Properties"])
    assert "ReservedConcurrentExecutions" not in executor  # 0: not reserved (new accounts have little to reserve)
    reserved = load_template(ROOT / "template.yaml", parameters={"RunExecutorReservedConcurrency": "100"})
    assert reserved.resolve(reserved.resources["RunExecutorFunction"]["Properties"])["ReservedConcurrentExecutions"] == "100"


def test_the_dashboard_is_valid_json_showing_every_queue(template):
    body = json.loads(_of_type(template, "AWS::CloudWatch::Dashboard")["Dashboard"]["DashboardBody"])
    text = json.dumps(body)
    for queue in template.queues:
        assert queue.name in text, f"{queue.logical_id} is not on the dashboard"
    for metric in ("RunsSucceeded", "DeliveriesSent", "SweepTicketsEvaluated", "EventsDropped", "FiringLateness",
                   "AuthCacheHits", "ReadThrottleEvents", "Throttles", "Duration"):
        assert metric in text


def test_two_stacks_of_one_stage_name_nothing_alike():
    first = load_template(ROOT / "template.yaml", stack_name="automations-a")
    second = load_template(ROOT / "template.yaml", stack_name="automations-b")
    clashes = [name for stack in first.stacks() for name in stack.resources
               if first.physical_name(name) == second.physical_name(name)]
    assert not clashes, f"physical names fixed whatever the stack: {clashes}"
    for variable in ("RUN_EXECUTOR_ARN", "RULE_EXPANDER_ARN", "RUN_SCHEDULE_GROUP", "EVENT_BUS_NAME"):
        values = {t.functions["RunExecutorFunction"].environment[variable] for t in (first, second)}
        assert len(values) == 2, variable
    # What the functions are told is what the template names.
    environment = first.functions["RunExecutorFunction"].environment
    assert environment["RUN_EXECUTOR_ARN"] == first.ref("RunExecutorFunction.Alias")
    assert environment["RULE_EXPANDER_ARN"] == first.ref("RuleExpanderFunction.Alias")
    assert len(first.physical_name("RunExecutorFunction").replace("automations-a", "x" * 48)) <= 64


def _overrides(env: dict) -> dict[str, str]:
    return dict(item.split("=", 1) for item in env["deploy"]["parameters"]["parameter_overrides"])


def test_samconfig_overrides_are_template_parameters_with_allowed_values(template):
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    declared = template.raw["Parameters"]
    for env_name in ("default", "prod"):
        env = config[env_name]
        assert env["global"]["parameters"]["stack_name"]
        deploy = env["deploy"]["parameters"]
        assert deploy["resolve_s3"] is True and "CAPABILITY_IAM" in deploy["capabilities"]
        for name, value in _overrides(env).items():
            assert name in declared, f"{env_name}: {name} is not a template parameter"
            if name == "Release":
                continue  # a placeholder the template refuses, for make deploy to replace (test_releases.py)
            spec = declared[name]
            if "AllowedValues" in spec:
                assert value in [str(v) for v in spec["AllowedValues"]], (env_name, name, value)
            if "AllowedPattern" in spec:
                assert re.fullmatch(spec["AllowedPattern"], value), (env_name, name, value)
            if "MinValue" in spec:
                assert float(value) >= spec["MinValue"], (env_name, name, value)
            if "MaxValue" in spec:
                assert float(value) <= spec["MaxValue"], (env_name, name, value)
    assert config["prod"]["deploy"]["parameters"]["confirm_changeset"] is True
    assert _overrides(config["prod"])["Stage"] == "prod" and _overrides(config["default"])["Stage"] == "dev"


def test_a_deploy_that_lost_samconfigs_list_is_refused_not_made_a_dev_stack(template):
    """`--parameter-overrides` replaces samconfig's whole list: a new stack deployed with it gets
    the defaults. Stage and SenderEmail have none, so such a deploy fails instead of making a
    dev-configured stack (or one sending from an address nobody verified); each env lists both."""
    declared = template.raw["Parameters"]
    assert "Default" not in declared["Stage"] and "Default" not in declared["SenderEmail"]
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    for env_name in ("default", "prod"):
        assert {"Stage", "SenderEmail"} <= set(_overrides(config[env_name])), env_name


def _rule_failures(**parameters) -> list[str]:
    return load_template(ROOT / "template.yaml", parameters=parameters).rule_failures()


def test_a_prod_stack_must_send_from_a_real_identity_and_alert_someone():
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    committed = _overrides(config["prod"])
    assert committed["SenderEmail"] and committed["AlarmEmail"]  # prod lists both...
    assert len(_rule_failures(**committed)) == 2  # ...as placeholders the template refuses until replaced
    assert _rule_failures(**{**committed, "AlarmEmail": ""}) == _rule_failures(**committed)
    real = {**committed, "SenderEmail": "automations@mail.shop.test", "AlarmEmail": "oncall@shop.test"}
    assert _rule_failures(**real) == []
    assert _rule_failures(**{**real, "AlarmEmail": ""}) == [
        "ProdSendsAndAlerts: Stage=prod needs AlarmEmail set to an address that reads the alarms (samconfig.toml, prod)"]
    assert _rule_failures(**{**real, "SenderEmail": "automations@example.com"}) == [
        "ProdSendsAndAlerts: Stage=prod needs SenderEmail set to your verified SES identity (samconfig.toml, prod)"]
    assert _rule_failures(**_overrides(config["default"])) == []  # dev may run with the placeholder


def test_sam_validate_accepts_the_prod_config_env(tmp_path):
    sam = shutil.which("sam") or shutil.which("sam", path=str(ROOT / ".venv-tools" / "bin"))
    if sam is None:
        pytest.skip("aws-sam-cli is not installed (make .venv-tools/.installed)")
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    environment |= {"AWS_DEFAULT_REGION": "us-east-1", "SAM_CLI_TELEMETRY": "0", "HOME": str(tmp_path)}
    result = subprocess.run([sam, "validate", "--config-env", "prod"], cwd=ROOT, env=environment,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    # The prod env's validate section asks for the linter: proof the env was read.
    assert "is a valid SAM Template" in result.stdout and "basic SAM Validation" not in result.stdout


# --- operations that real incidents need ---------------------------------------------------------


def test_the_api_writes_an_access_log_line_per_request_kept_as_long_as_the_function_logs(template):
    stage = _of_type(template, "AWS::ApiGatewayV2::Stage")["ApiStage"]
    settings = stage["AccessLogSettings"]
    assert settings["DestinationArn"] == template.arn("ApiAccessLogGroup")
    line = json.loads(settings["Format"])
    assert {line[key] for key in ("requestId", "routeKey", "status", "latencyMs", "accountId")} == {
        "$context.requestId", "$context.routeKey", "$context.status", "$context.responseLatency",
        "$context.authorizer.account_id"}
    assert len(settings["Format"]) <= 3 * 1024  # API Gateway's limit on the format
    group = _of_type(template, "AWS::Logs::LogGroup")["ApiAccessLogGroup"]
    assert group["RetentionInDays"] == template.parameter("LogRetentionDays")


def _alarm_on(template, namespace: str, metric: str) -> dict[str, dict]:
    return {name: alarm for name, alarm in _of_type(template, "AWS::CloudWatch::Alarm").items()
            if (alarm.get("Namespace"), alarm.get("MetricName")) == (namespace, metric)
            or any((m.get("MetricStat") or {}).get("Metric", {}).get("MetricName") == metric
                   and m["MetricStat"]["Metric"]["Namespace"] == namespace for m in alarm.get("Metrics", []))}


def test_alarms_watch_the_api_the_authorizer_throttles_and_the_unhandled_failures(template):
    api = [{"Name": "ApiId", "Value": template.ref("Api")}, {"Name": "Stage", "Value": "$default"}]
    (errors,) = _alarm_on(template, "AWS/ApiGateway", "5xx").values()
    assert errors["Metrics"][1]["MetricStat"]["Metric"]["Dimensions"] == api
    assert {m["Id"] for m in errors["Metrics"]} == {"rate", "errors", "requests"}  # a rate, not a count
    (latency,) = _alarm_on(template, "AWS/ApiGateway", "Latency").values()
    assert latency["ExtendedStatistic"] == "p99" and latency["Dimensions"] == api
    authorizer = [{"Name": "FunctionName", "Value": template.physical_name("AuthorizerFunction")}]
    for metric in ("Errors", "Throttles"):
        assert any(a.get("Dimensions") == authorizer for a in _alarm_on(template, "AWS/Lambda", metric).values()), metric
    assert any("Dimensions" not in a and "Metrics" not in a for a in _alarm_on(template, "AWS/Lambda", "Throttles").values())
    failures = [{"Name": "QueueName", "Value": template.physical_name("AsyncFailureQueue")}]
    (unhandled,) = [a for a in _alarm_on(template, "AWS/SQS", "ApproximateAgeOfOldestMessage").values()
                    if a["Dimensions"] == failures]
    assert unhandled["Threshold"] < 14 * 86400  # before SQS drops the message
    assert not [e for e in template.events("SQS") if e.properties["Queue"] == template.arn("AsyncFailureQueue")]


def test_the_table_and_what_failed_outlive_a_teardown(template):
    table = template.resources["Table"]
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    assert template.resolved("Table")["DeletionProtectionEnabled"] is True
    dead_letters = {q.logical_id for q in template.queues if "DeadLetter" in q.logical_id} | {"AsyncFailureQueue"}
    assert len(dead_letters) == 6
    for name in dead_letters:
        assert template.resources[name].get("DeletionPolicy") == "Retain", name
        assert template.resources[name].get("UpdateReplacePolicy") == "Retain", name


def test_every_queue_and_topic_refuses_requests_without_tls(template):
    """Each by a statement of its own policy that names it (not a wildcard over the account's
    queues); a queue policy covers one queue, as SQS wants."""
    arns = {template.ref(q.logical_id): template.arn(q.logical_id) for q in template.queues}
    for name, policy in _of_type(template, "AWS::SQS::QueuePolicy").items():
        assert len(policy["Queues"]) == 1, f"{name} covers {len(policy['Queues'])} queues"
        assert {s["Resource"] for s in policy["PolicyDocument"]["Statement"]} == {arns[policy["Queues"][0]]}, name

    def refuses_plain(statement: dict) -> bool:
        return (statement["Effect"] == "Deny" and statement["Principal"] == "*"
                and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}})

    guarded = set()
    for kind, targets in (("AWS::SQS::QueuePolicy", "Queues"), ("AWS::SNS::TopicPolicy", "Topics")):
        for policy in _of_type(template, kind).values():
            for statement in filter(refuses_plain, policy["PolicyDocument"]["Statement"]):
                assert "*" not in statement["Resource"], f"a TLS statement over {statement['Resource']}"
                guarded.update((target, statement["Resource"]) for target in policy[targets])
    queues = {q.logical_id: (template.ref(q.logical_id), template.arn(q.logical_id)) for q in template.queues}
    topics = {name: (template.ref(name), template.ref(name)) for name in _of_type(template, "AWS::SNS::Topic")}
    plain = [name for name, guard in (queues | topics).items() if guard not in guarded]
    assert not plain, f"queues and topics that take requests without TLS: {plain}"


def test_the_schedule_dead_letter_queue_takes_what_the_schedules_role_delivers(template):
    """EventBridge Scheduler sends a run's or a rule's undeliverable invocation to its dead-letter
    queue as the schedule's execution role (SchedulerRole, what the run engine schedules with):
    the role may send to that queue, and the queue's policy lets that role in, nothing broader
    (not the service principal, which any schedule of the account would be)."""
    queue, role = template.arn("ScheduleDeadLetterQueue"), template.get_att("SchedulerRole", "Arn")
    environment = template.functions["RunExecutorFunction"].environment
    assert (environment["SCHEDULER_ROLE_ARN"], environment["SCHEDULE_DLQ_ARN"]) == (role, queue)
    statements = template.resolved("ScheduleDeadLetterQueuePolicy")["PolicyDocument"]["Statement"]
    allowed = [(s["Principal"], s["Action"], s["Resource"]) for s in statements if s["Effect"] == "Allow"]
    assert allowed == [({"AWS": role}, "sqs:SendMessage", queue)]
    granted = [s["Resource"] for policy in template.resolved("SchedulerRole")["Policies"]
               for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow" and s["Action"] == "sqs:SendMessage"]
    assert queue in granted


def test_the_alarm_topic_still_takes_the_alarms():
    """Its own policy replaces SNS's default one, which let the account's alarms publish."""
    template = load_template(ROOT / "template.yaml")
    (policy,) = _of_type(template, "AWS::SNS::TopicPolicy").values()
    publishes = [s for s in policy["PolicyDocument"]["Statement"]
                 if s["Effect"] == "Allow" and s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert publishes and publishes[0]["Action"] == "sns:Publish"
    assert publishes[0]["Condition"] == {"StringEquals": {"aws:SourceAccount": template.ref("AWS::AccountId")}}


def _expanded(**parameters: str) -> list[tuple[object, dict]]:
    """Every stack with its resources as CloudFormation gets them (aws-sam-translator)."""
    from automations_local import iam_coverage

    template = load_template(ROOT / "template.yaml", parameters=parameters)
    return [(stack, iam_coverage.expand(stack)["Resources"]) for stack in template.stacks()]


def _deployment_groups(**parameters: str) -> dict[str, dict]:
    """Each function's CodeDeploy deployment group, in every stack, as CloudFormation gets it."""
    groups = {}
    for stack, resources in _expanded(**parameters):
        for name, resource in resources.items():
            if resource["Type"] == "AWS::CodeDeploy::DeploymentGroup":
                alarms = [stack.resolve(a["Name"]) for a in resource["Properties"]["AlarmConfiguration"]["Alarms"]]
                groups[name.removesuffix("DeploymentGroup")] = {**resource["Properties"], "alarms": alarms}
    return groups


def test_safe_deploys_shift_each_functions_traffic_gradually_rolled_back_by_the_alarms():
    template = load_template(ROOT / "template.yaml", parameters={"Stage": "prod", "SafeDeploys": "true"})
    groups = _deployment_groups(Stage="prod", SafeDeploys="true")
    assert set(groups) == set(template.functions)  # the API's functions and the workers
    api_errors = template.physical_name("Api5xxAlarm")
    for name, group in groups.items():
        assert group["DeploymentConfigName"] == {"Fn::Sub": ["CodeDeployDefault.Lambda${ConfigName}", {"ConfigName": "Canary10Percent5Minutes"}]}, name
        assert api_errors in group["alarms"] and group["AutoRollbackConfiguration"]["Enabled"] is True, name
    assert template.physical_name("WorkerErrorsAlarm") in groups["RuleExpanderFunction"]["alarms"]
    assert _deployment_groups(Stage="prod", SafeDeploys="false") == {}  # a hotfix deploys at once
    assert _deployment_groups(Stage="dev", SafeDeploys="false") == {}
    assert all(f.alias == "live" for f in template.functions.values())  # what the routes, queues and schedules invoke
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    assert _overrides(config["prod"])["SafeDeploys"] == "true" and _overrides(config["default"])["SafeDeploys"] == "false"
    assert template.raw["Parameters"]["SafeDeploys"]["Default"] == "true"  # an env that does not say is safe


def test_a_canary_is_rolled_back_by_its_own_new_versions_errors():
    """Api5xxAlarm wants over 1% of at least 10 requests a minute: a canary's 10% of a quiet
    endpoint, or of a worker, would never trip it. So each function's deployment group also
    watches the errors of the very version it shifts to (its live alias's ExecutedVersion), an
    alarm that exists only while deploys are safe."""
    for stack, resources in _expanded(Stage="prod", SafeDeploys="true"):
        versions = {resource["Properties"]["FunctionName"]["Ref"]: name for name, resource in resources.items()
                    if resource["Type"] == "AWS::Lambda::Version"}
        groups = {name.removesuffix("DeploymentGroup"): resource["Properties"] for name, resource in resources.items()
                  if resource["Type"] == "AWS::CodeDeploy::DeploymentGroup"}
        assert set(groups) == set(versions), stack.path.name
        for function, group in groups.items():
            names = [a["Name"] for a in group["AlarmConfiguration"]["Alarms"]]
            names = [name["Fn::If"][1 if stack.condition(name["Fn::If"][0]) else 2] if "Fn::If" in name else name
                     for name in names]
            watched = [resources[name["Ref"]] for name in names if name.get("Ref") in resources]
            own = [alarm for alarm in watched if {d["Name"]: d["Value"] for d in alarm["Properties"].get("Dimensions", [])} == {
                "FunctionName": {"Ref": function}, "Resource": {"Fn::Sub": f"${{{function}}}:live"},
                "ExecutedVersion": {"Fn::GetAtt": [versions[function], "Version"]}}]
            assert len(own) == 1, f"{stack.path.name} {function}: no alarm on its new version's errors"
            (alarm,) = own
            properties = alarm["Properties"]
            assert (properties["Namespace"], properties["MetricName"], properties["Statistic"]) == ("AWS/Lambda", "Errors", "Sum")
            assert (properties["ComparisonOperator"], properties["Threshold"], properties["Period"]) == ("GreaterThanThreshold", 0, 60)
            assert stack.condition(alarm["Condition"]) is True
    for stack, resources in _expanded(Stage="prod", SafeDeploys="false"):
        conditional = [resource["Condition"] for resource in resources.values()
                       if resource["Type"] == "AWS::CloudWatch::Alarm" and "Condition" in resource]
        assert all(stack.condition(name) is False for name in conditional), stack.path.name  # nothing to pay for


def test_a_release_deletes_the_versions_it_replaces():
    """Every release publishes a version of every function; the one it replaces (no alias points
    to it once the release completes) is deleted with it, instead of piling up (SAM retains them
    unless told)."""
    for stack, resources in _expanded(Stage="prod", SafeDeploys="true"):
        versions = {name: resource for name, resource in resources.items() if resource["Type"] == "AWS::Lambda::Version"}
        kept = [name for name, version in versions.items() if version.get("DeletionPolicy") != "Delete"]
        assert versions and not kept, f"{stack.path.name}: versions kept after their release: {kept}"


def test_the_nested_stacks_deploy_one_after_another(template):
    """Eight stacks created or updated at once (each with its functions, versions, aliases and
    permissions) meet CloudFormation's and Lambda's control-plane throttles: each waits for the
    one before it, so the whole forms a single chain."""
    nested = {name: resource for name, resource in template.raw["Resources"].items()
              if resource["Type"] == "AWS::Serverless::Application"}
    assert len(nested) == 8
    after = {}
    for name, resource in nested.items():
        depends = resource.get("DependsOn", [])
        depends = [depends] if isinstance(depends, str) else depends
        on_stacks = [other for other in depends if other in nested]
        assert len(on_stacks) <= 1, f"{name} waits for {on_stacks}: one at most"
        after[name] = on_stacks[0] if on_stacks else None
    firsts = [name for name, before in after.items() if before is None]
    assert len(firsts) == 1, f"{firsts} wait for no other stack: they would deploy at once"
    chain = firsts
    while successors := [name for name, before in after.items() if before == chain[-1]]:
        assert len(successors) == 1, f"{successors} all wait for {chain[-1]}: they would deploy at once"
        chain.append(successors[0])
    assert sorted(chain) == sorted(nested)


def test_a_stack_made_before_the_nested_stacks_gets_a_new_api_not_conflicting_updates(template):
    """Before the surfaces moved to nested stacks the core had SAM's AWS::Serverless::HttpApi: the
    API `HttpApi`, its routes, integrations and authorizer imported from its OpenAPI body, and the
    `$default` stage `HttpApiApiGatewayDefaultStage`. Updated in place under those logical ids, a
    second `$default` stage and routes the old body already made would be refused (API Gateway's
    ConflictException). So the API and its stage have logical ids of their own: the upgrade makes
    a new API (a new ApiUrl: docs/deploying.md) and deletes the old one with all it imported."""
    api_resources = {name for name, resource in template.resources.items()
                     if resource["Type"].startswith("AWS::ApiGatewayV2::")}
    assert {"AWS::ApiGatewayV2::Api", "AWS::ApiGatewayV2::Stage"} <= {template.resources[n]["Type"] for n in api_resources}
    assert not api_resources & {"HttpApi", "HttpApiApiGatewayDefaultStage", "ServerlessHttpApi"}


def test_a_stack_adopts_an_existing_table_and_serves_from_it():
    """ExistingTableName: the stack creates no table and every function and grant names the one
    given (a table kept by a teardown, or restored from point-in-time recovery)."""
    import boto3
    from support import authorized, http_event, load_handler, mocked_aws

    from automations.bootstrap import services
    from automations_local import iam_coverage
    from automations_local.resources import table_definition

    adopting = load_template(ROOT / "template.yaml", parameters={"ExistingTableName": "automations-restored"})
    assert "Table" not in adopting.resources
    assert {f.environment["TABLE_NAME"] for f in adopting.functions.values()} == {"automations-restored"}
    assert adopting.resolved("ZendeskTicketsStack")["Parameters"]["TableArn"].endswith(":table/automations-restored")
    with mocked_aws(adopting), iam_coverage.evaluating(iam_coverage.IamModel(adopting)):
        made_before = table_definition(load_template(ROOT / "template.yaml").tables[0]) | {"TableName": "automations-restored"}
        boto3.client("dynamodb").create_table(**made_before)
        account, key = services().accounts.create_account("Acme", "owner@acme.test", "UTC")
        event = http_event("POST", "/v1/contacts", body={"email": "ann@acme.test"}, authorization=f"Bearer {key}")
        response = load_handler("contacts_create")(authorized(event), None)
        assert response["statusCode"] == 201, response
        items = boto3.client("dynamodb").scan(TableName="automations-restored")["Items"]
        assert any("ann@acme.test" in str(item) for item in items)
