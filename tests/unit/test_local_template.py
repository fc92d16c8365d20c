"""template.yaml as the local runtime reads it: short tags, SAM Globals, intrinsics, routes."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from automations_local.template import LocalTemplateError, load_template

ROOT = Path(__file__).resolve().parents[2]

SAMPLE = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: dev}
  Retries: {Type: Number, Default: 3}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  IsDev: !Not [!Condition IsProd]
  Both: !And [!Condition IsDev, !Equals ["${Stage}", "${Stage}"]]
Mappings:
  Sizes: {dev: {memory: 256}}
Globals:
  Function:
    Runtime: python3.13
    MemorySize: 512
    Layers: [!Ref CoreLayer]
    Environment:
      Variables:
        TABLE_NAME: !Ref Table
        STAGE: !Ref Stage
        SHARED: global
Resources:
  CoreLayer:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: layers/core/}
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "things-${Stage}"
      KeySchema: [{AttributeName: PK, KeyType: HASH}]
      AttributeDefinitions: [{AttributeName: PK, AttributeType: S}]
  Dlq:
    Type: AWS::SQS::Queue
  Work:
    Type: AWS::SQS::Queue
    Properties:
      RedrivePolicy: {deadLetterTargetArn: !GetAtt Dlq.Arn, maxReceiveCount: !Ref Retries}
  ProdOnlyQueue:
    Type: AWS::SQS::Queue
    Condition: IsProd
  Group:
    Type: AWS::Scheduler::ScheduleGroup
    Properties: {Name: !Sub "${AWS::StackName}-runs"}
  Bus:
    Type: AWS::Events::EventBus
    Properties: {Name: automations}
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: KeyAuth
        Authorizers:
          KeyAuth:
            FunctionArn: !GetAtt AuthFunction.Arn
            AuthorizerPayloadFormatVersion: "2.0"
            EnableSimpleResponses: true
            Identity: {Headers: [Authorization]}
  AuthFunction:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: functions/auth/, Handler: app.handler, Timeout: 5}
  WorkerFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/worker/
      Handler: pkg.main.run
      MemorySize: !FindInMap [Sizes, !Ref Stage, memory]
      Layers: [!Ref ExtraLayer]
      Environment:
        Variables:
          SHARED: local
          QUEUE_URL: !Ref Work
          QUEUE_ARN: !GetAtt [Work, Arn]
          DLQ_NAME: !GetAtt Dlq.QueueName
          BUS: !GetAtt Bus.Name
          GROUP: !Ref Group
          REGION_URL: !Sub "https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${!literal}"
          JOINED: !Join [":", [!Ref AWS::AccountId, !Select [1, !Split [",", "a,b,c"]]]]
          CHOSEN: !If [IsProd, prod-value, !If [Both, dev-value, other]]
          RETRIES: !Ref Retries
          FLAG: true
          ENCODED: !Base64 hi
      Events:
        Hourly:
          Type: ScheduleV2
          Properties: {ScheduleExpression: rate(1 hour), GroupName: !Ref Group}
        Jobs:
          Type: SQS
          Properties: {Queue: !GetAtt Work.Arn, BatchSize: 10}
        Get:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: get, Path: "/things/{id}"}
        Health:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Method: GET, Path: /health, Auth: {Authorizer: NONE}}
  ExtraLayer:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: layers/extra/}
"""


@pytest.fixture
def sample(tmp_path):
    path = tmp_path / "template.yaml"
    path.write_text(SAMPLE)
    return load_template(path, region="eu-west-1", aws_endpoint="http://127.0.0.1:5999")


def test_short_tags_load_as_long_forms(sample):
    worker = sample.raw["Resources"]["WorkerFunction"]["Properties"]
    variables = worker["Environment"]["Variables"]
    assert variables["QUEUE_URL"] == {"Ref": "Work"}
    assert variables["QUEUE_ARN"] == {"Fn::GetAtt": ["Work", "Arn"]}
    assert variables["DLQ_NAME"] == {"Fn::GetAtt": ["Dlq", "QueueName"]}
    assert variables["CHOSEN"]["Fn::If"][0] == "IsProd"
    assert sample.raw["Conditions"]["IsDev"] == {"Fn::Not": [{"Condition": "IsProd"}]}
    assert worker["MemorySize"] == {"Fn::FindInMap": ["Sizes", {"Ref": "Stage"}, "memory"]}


def test_globals_merge_into_functions(sample):
    worker = sample.resources["WorkerFunction"]["Properties"]
    assert worker["Runtime"] == "python3.13"
    assert worker["Layers"] == [{"Ref": "CoreLayer"}, {"Ref": "ExtraLayer"}]  # lists add up
    auth = sample.functions["AuthFunction"]
    assert auth.memory_mb == 512 and auth.timeout_s == 5
    assert auth.environment == {"TABLE_NAME": "things-dev", "STAGE": "dev", "SHARED": "global"}
    assert sample.functions["WorkerFunction"].environment["SHARED"] == "local"  # local wins


def test_intrinsics_resolve_to_local_values(sample):
    function = sample.functions["WorkerFunction"]
    env = function.environment
    assert function.memory_mb == 256
    assert env["QUEUE_URL"] == "http://127.0.0.1:5999/123456789012/automations-local-Work"
    assert env["QUEUE_ARN"] == "arn:aws:sqs:eu-west-1:123456789012:automations-local-Work"
    assert env["DLQ_NAME"] == "automations-local-Dlq"
    assert env["BUS"] == "automations"
    assert env["GROUP"] == "automations-local-runs"
    assert env["REGION_URL"] == "https://automations-local-Api.execute-api.eu-west-1.amazonaws.com/${literal}"
    assert env["JOINED"] == "123456789012:b"
    assert env["CHOSEN"] == "dev-value"
    assert env["RETRIES"] == "3" and env["FLAG"] == "true" and env["ENCODED"] == "aGk="
    assert function.handler_file == sample.root / "functions/worker/pkg/main.py"
    assert function.handler_name == "run"


def test_resources_and_event_sources(sample):
    assert [(t.name, t.properties["KeySchema"]) for t in sample.tables] == [
        ("things-dev", [{"AttributeName": "PK", "KeyType": "HASH"}])]
    queues = {q.logical_id: q for q in sample.queues}
    assert set(queues) == {"Dlq", "Work"}  # ProdOnlyQueue's condition is false
    assert queues["Work"].properties["RedrivePolicy"] == {
        "deadLetterTargetArn": "arn:aws:sqs:eu-west-1:123456789012:automations-local-Dlq", "maxReceiveCount": 3}
    assert [g.name for g in sample.schedule_groups] == ["automations-local-runs"]
    assert [b.name for b in sample.event_buses] == ["automations"]
    (hourly,) = sample.events("ScheduleV2")
    assert hourly.function_id == "WorkerFunction" and hourly.properties["GroupName"] == "automations-local-runs"
    (jobs,) = sample.events("SQS")
    assert jobs.properties["Queue"] == "arn:aws:sqs:eu-west-1:123456789012:automations-local-Work"


def test_routes_and_authorizers(sample):
    routes = {route.key: route for route in sample.routes}
    assert set(routes) == {"GET /things/{id}", "GET /health"}
    authorizer = routes["GET /things/{id}"].authorizer
    assert authorizer.function_id == "AuthFunction" and authorizer.identity_headers == ("Authorization",)
    assert routes["GET /health"].authorizer is None  # Auth: {Authorizer: NONE}


@pytest.mark.parametrize("snippet, message", [
    ("X: {Type: AWS::SQS::Queue, Properties: {QueueName: !ImportValue shared}}", "ImportValue"),
    ("X: {Type: AWS::SQS::Queue, Properties: {QueueName: !Ref Nowhere}}", "unknown resource"),
    ("X: {Type: AWS::SQS::Queue, Properties: {QueueName: !GetAtt Dlq.Nope}}", "Dlq.Nope"),
])
def test_unresolvable_references_are_reported(tmp_path, snippet, message):
    path = tmp_path / "template.yaml"
    path.write_text(SAMPLE + textwrap.indent(snippet, "  ") + "\n")
    template = load_template(path)
    with pytest.raises(LocalTemplateError, match=message):
        template.queues


def test_duplicate_routes_are_rejected(tmp_path):
    path = tmp_path / "template.yaml"
    path.write_text(SAMPLE.replace("Path: /health", "Path: \"/things/{id}\""))
    with pytest.raises(LocalTemplateError, match="declared twice"):
        load_template(path)


def test_the_product_template_loads():
    template = load_template(ROOT / "template.yaml")
    assert template.routes, "template.yaml declares no routes"
    for route in template.routes:
        function = template.functions[route.function_id]
        assert function.handler_file.is_file(), f"{route.key}: no handler at {function.handler_file}"
        assert route.authorizer is None or route.authorizer.function_id in template.functions
    assert {t.name for t in template.tables} == {template.functions[r.function_id].environment["TABLE_NAME"]
                                                 for r in template.routes}


# --- nested stacks -------------------------------------------------------------------------------

PARENT = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      KeySchema: [{AttributeName: PK, KeyType: HASH}]
      AttributeDefinitions: [{AttributeName: PK, AttributeType: S}]
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties: {Name: !Ref AWS::StackName, ProtocolType: HTTP}
  Auth:
    Type: AWS::ApiGatewayV2::Authorizer
    Properties:
      ApiId: !Ref Api
      Name: KeyAuth
      AuthorizerType: REQUEST
      AuthorizerPayloadFormatVersion: "2.0"
      EnableSimpleResponses: true
      IdentitySource: [$request.header.Authorization]
      AuthorizerUri: !Sub
        - arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Alias}/invocations
        - Alias: !Ref AuthFunction.Alias
  AuthFunction:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: functions/auth/, Handler: app.handler, AutoPublishAlias: live}
  Surface:
    Type: AWS::Serverless::Application
    Properties:
      Location: stacks/surface.yaml
      Parameters: {ApiId: !Ref Api, AuthorizerId: !Ref Auth, TableName: !Ref Table}
"""

CHILD = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  ApiId: {Type: String}
  AuthorizerId: {Type: String}
  TableName: {Type: String}
Globals:
  Function:
    AutoPublishAlias: live
    Environment: {Variables: {TABLE_NAME: !Ref TableName}}
Resources:
  ThingFunction:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: ../functions/thing/, Handler: app.handler}
  ThingIntegration:
    Type: AWS::ApiGatewayV2::Integration
    Properties: {ApiId: !Ref ApiId, IntegrationType: AWS_PROXY, PayloadFormatVersion: "2.0", IntegrationUri: !Ref ThingFunction.Alias}
  ThingRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref ApiId, RouteKey: "GET /things/{id}", Target: !Sub "integrations/${ThingIntegration}", AuthorizationType: CUSTOM, AuthorizerId: !Ref AuthorizerId}
  HealthRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties: {ApiId: !Ref ApiId, RouteKey: GET /health, Target: !Sub "integrations/${ThingIntegration}", AuthorizationType: NONE}
"""


@pytest.fixture
def nested(tmp_path):
    (tmp_path / "stacks").mkdir()
    (tmp_path / "template.yaml").write_text(PARENT)
    (tmp_path / "stacks" / "surface.yaml").write_text(CHILD)
    return tmp_path


def test_a_nested_stack_resolves_in_its_own_stack_with_what_its_parent_passes(nested):
    template = load_template(nested / "template.yaml")
    surface = template.children["Surface"]
    assert [stack.path for stack in template.stacks()] == [nested / "template.yaml", nested / "stacks/surface.yaml"]
    assert surface.stack_name == "automations-local-Surface"
    thing = template.functions["ThingFunction"]  # the top template answers for every stack's functions
    assert thing.code_dir == nested / "functions/thing" and thing.alias == "live"
    assert thing.name == "automations-local-Surface-ThingFunction"
    assert thing.environment == {"TABLE_NAME": "automations-local-Table"}
    assert template.stack_of("ThingFunction") is surface and template.arn("ThingFunction") == surface.arn("ThingFunction")
    assert template.function_of_arn(f"{template.arn('ThingFunction')}:live") is thing


def test_routes_a_nested_stack_declares_are_served_with_the_parents_authorizer(nested):
    routes = {route.key: route for route in load_template(nested / "template.yaml").routes}
    assert set(routes) == {"GET /things/{id}", "GET /health"}
    thing = routes["GET /things/{id}"]
    assert thing.function_id == "ThingFunction" and thing.api_id == "automations-local-Api"
    assert thing.authorizer.function_id == "AuthFunction" and thing.authorizer.identity_headers == ("Authorization",)
    assert routes["GET /health"].authorizer is None


@pytest.mark.parametrize("change, message", [
    (lambda parent, child: (parent, child.replace("  HealthRoute:", "  Table:\n    Type: AWS::SQS::Queue\n  HealthRoute:")),
     "Table is declared by template.yaml and surface.yaml"),
    (lambda parent, child: (parent.replace("TableName: !Ref Table}", "TableName: !Ref Table, Extra: x}"), child),
     "Surface passes parameters stacks/surface.yaml does not declare: Extra"),
    (lambda parent, child: (parent, child.replace("TABLE_NAME: !Ref TableName", "TABLE_NAME: !Ref Table")),
     "unknown resource 'Table'"),  # a nested stack sees its parameters, not its parent's resources
    (lambda parent, child: (parent, child.replace("GET /health, Target: !Sub \"integrations/${ThingIntegration}\"",
                                                  "GET /health, Target: integrations/nothing")),
     "HealthRoute: its Target names no integration of its stack"),
])
def test_nested_stacks_that_cloudformation_would_refuse_are_refused(nested, change, message):
    parent, child = change(PARENT, CHILD)
    (nested / "template.yaml").write_text(parent)
    (nested / "stacks" / "surface.yaml").write_text(child)
    with pytest.raises(LocalTemplateError, match=message):
        load_template(nested / "template.yaml")


def test_the_products_nested_stacks_give_every_function_the_cores_environment():
    template = load_template(ROOT / "template.yaml")
    children = [stack for stack in template.stacks() if stack is not template]
    assert children and all(stack.path.parent == ROOT / "stacks" for stack in children)
    globals_ = {stack.path.name: stack.raw["Globals"] for stack in children}
    first = next(iter(globals_.values()))
    assert all(g == first for g in globals_.values()), "the nested stacks' Globals differ"
    shared = set(template.raw["Globals"]["Function"]["Environment"]["Variables"])
    lacking = {name: shared - set(f.environment) for name, f in template.functions.items() if shared - set(f.environment)}
    assert not lacking, f"functions without the core's environment: {lacking}"
    environment, warnings = template.shared_environment()
    assert warnings == [] and environment["STACK_NAME"] == template.stack_name
