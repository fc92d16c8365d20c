"""Room under CloudFormation's, IAM's and API Gateway's limits: template.yaml and every stack it
nests, translated by the aws-sam-translator SAM CLI pins (.venv-tools), in the prod shape (its
samconfig.toml parameters: safe deploys on). Each stack is built to stay at or under 60% of every
limit; `automations limits` (CI) fails at 80%."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from automations_local import limits
from automations_local.template import load_template

ROOT = Path(__file__).resolve().parents[2]
TOOLS_PYTHON = ROOT / ".venv-tools" / "bin" / "python"

pytestmark = pytest.mark.skipif(not TOOLS_PYTHON.is_file(), reason="no .venv-tools (make .venv-tools/.installed)")


@pytest.fixture(scope="module")
def prod():
    template = load_template(ROOT / "template.yaml", parameters=limits.samconfig_parameters(ROOT, "prod"))
    _, translated = limits.translate(template, TOOLS_PYTHON)
    return template, limits.measure(template, translated)


def test_every_stack_role_and_api_is_at_most_60_percent_of_each_limit(prod):
    template, measures = prod
    assert len(template.stacks()) >= 5  # the core and the surfaces' stacks
    assert {m.limit for m in measures} == set(limits.LIMITS)  # each limit measured
    crowded = [m.describe() for m in measures if m.share > limits.DESIGN_AT]
    assert not crowded, "over 60% of a limit:\n" + "\n".join(crowded)


def test_the_check_fails_once_a_limit_is_reached(prod, capsys):
    _, measures = prod
    assert limits.over(measures, limits.FAIL_AT) == []
    lowered = limits.over(measures, 0.3)  # as if every limit were a third lower
    assert lowered and lowered[0].share >= lowered[-1].share >= 0.3
    assert any(m.limit == "resources per stack" and m.where == "stacks/zendesk-tickets.yaml" for m in lowered)
    assert limits.run(str(ROOT / "template.yaml"), ["prod"], 0.3, TOOLS_PYTHON) == 1
    assert "OVER 30%: stacks/zendesk-tickets.yaml: " in capsys.readouterr().out


def test_routes_and_integrations_count_per_api_across_the_stacks(tmp_path):
    """Routes a nested stack adds to its parent's API count against that API, with SAM's own."""
    (tmp_path / "child.yaml").write_text(textwrap.dedent("""
        Transform: AWS::Serverless-2016-10-31
        Parameters:
          ApiId: {Type: String}
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties: {CodeUri: fn/, Handler: app.handler, Runtime: python3.13}
          Integration:
            Type: AWS::ApiGatewayV2::Integration
            Properties: {ApiId: !Ref ApiId, IntegrationType: AWS_PROXY, PayloadFormatVersion: "2.0", IntegrationUri: !GetAtt Fn.Arn}
          One:
            Type: AWS::ApiGatewayV2::Route
            Properties: {ApiId: !Ref ApiId, RouteKey: GET /one, Target: !Sub "integrations/${Integration}"}
          Two:
            Type: AWS::ApiGatewayV2::Route
            Properties: {ApiId: !Ref ApiId, RouteKey: GET /two, Target: !Sub "integrations/${Integration}"}
    """))
    (tmp_path / "template.yaml").write_text(textwrap.dedent("""
        Transform: AWS::Serverless-2016-10-31
        Resources:
          Api:
            Type: AWS::ApiGatewayV2::Api
            Properties: {Name: api, ProtocolType: HTTP}
          Child:
            Type: AWS::Serverless::Application
            Properties: {Location: child.yaml, Parameters: {ApiId: !Ref Api}}
          Sam:
            Type: AWS::Serverless::Function
            Properties:
              CodeUri: fn/
              Handler: app.handler
              Runtime: python3.13
              Events:
                Get: {Type: HttpApi, Properties: {Path: /sam, Method: GET}}
    """))
    template = load_template(tmp_path / "template.yaml")
    _, translated = limits.translate(template, TOOLS_PYTHON)
    counted = {(m.limit, m.where): m.value for m in limits.measure(template, translated)}
    assert counted[("routes per HTTP API", "Api")] == 2 and counted[("integrations per HTTP API", "Api")] == 1
    assert counted[("routes per HTTP API", "ServerlessHttpApi")] == 1  # SAM's implicit API, from its body
    assert counted[("resources per stack", "child.yaml")] == 5  # the function's role included
    assert counted[("managed policies per role", "child.yaml FnRole")] == 1  # AWSLambdaBasicExecutionRole
