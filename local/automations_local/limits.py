"""CloudFormation's, IAM's and API Gateway's limits against the templates as CloudFormation
receives them: template.yaml and every stack it nests, each translated by the aws-sam-translator
that SAM CLI pins (the one in .venv-tools, which `sam deploy` uses), with the parameter values of
a samconfig.toml env. ``automations limits`` fails when anything reaches 80% of its limit; the
design keeps every stack under 60% (a test holds it there), so a stack has room for the next
endpoints before CI stops it."""
from __future__ import annotations

import json
import subprocess
import tempfile
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from automations_local.iam_coverage import translatable
from automations_local.template import Template, load_template

FAIL_AT = 0.8  # of a limit: CI fails
DESIGN_AT = 0.6  # of a limit: what each stack is built to stay under

# What is limited, and the limit (AWS's defaults; reference/aws.md).
LIMITS = {
    "resources per stack": 500,
    "outputs per stack": 200,
    "parameters per stack": 200,
    "template bytes after transform": 1_000_000,  # a template body in S3: 1 MB
    "managed policies per role": 10,
    "inline policy characters per role": 10_240,
    "routes per HTTP API": 300,
    "integrations per HTTP API": 300,  # cannot be raised
}

_TRANSLATE = """
import json, os, sys
from samtranslator import __version__
from samtranslator.translator.transform import transform

class NoManagedPolicyNames:
    def load(self):
        raise SystemExit("name AWS managed policies by ARN (no IAM to look names up)")

jobs = json.load(open(sys.argv[1]))
translated = []
for job in jobs:
    os.environ["AWS_DEFAULT_REGION"] = job["region"]
    translated.append(transform(job["template"], job["parameters"], NoManagedPolicyNames()))
json.dump({"version": __version__, "templates": translated}, open(sys.argv[2], "w"))
"""


class LimitsError(Exception):
    """The templates cannot be measured (no SAM CLI tools, a template the translator refuses)."""


@dataclass(frozen=True)
class Measure:
    limit: str  # a key of LIMITS
    where: str  # "stacks/piggy.yaml", "stacks/piggy.yaml PiggyCreateRunFunctionRole", "HttpApi"
    value: int

    @property
    def share(self) -> float:
        return self.value / LIMITS[self.limit]

    def describe(self) -> str:
        return f"{self.where}: {self.value} {self.limit} ({self.share:.0%} of {LIMITS[self.limit]})"


def samconfig_parameters(root: Path, env: str) -> dict[str, str]:
    """The parameter values a samconfig.toml env deploys with."""
    config = tomllib.loads((root / "samconfig.toml").read_text())
    overrides = config[env]["deploy"]["parameters"].get("parameter_overrides") or []
    if isinstance(overrides, str):
        overrides = overrides.split()
    return dict(item.split("=", 1) for item in overrides)


def samconfig_stack_name(root: Path, env: str) -> str:
    """The stack a samconfig.toml env deploys."""
    config = tomllib.loads((root / "samconfig.toml").read_text())
    return config[env]["global"]["parameters"]["stack_name"]


def translate(template: Template, tools_python: Path) -> tuple[str, list[dict]]:
    """Every stack of the tree as CloudFormation receives it (in ``template.stacks()`` order), by
    the translator of ``tools_python``; and that translator's version."""
    if not tools_python.is_file():
        raise LimitsError(f"{tools_python} not found: make .venv-tools/.installed (SAM CLI's translator)")
    jobs = [{"template": translatable(stack.raw), "parameters": stack.parameter_values(), "region": stack.region}
            for stack in template.stacks()]
    with tempfile.TemporaryDirectory() as directory:
        given, answer = Path(directory) / "jobs.json", Path(directory) / "translated.json"
        given.write_text(json.dumps(jobs))
        result = subprocess.run([str(tools_python), "-c", _TRANSLATE, str(given), str(answer)],
                                capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise LimitsError(f"the translator refused a template:\n{result.stderr[-4000:]}")
        translated = json.loads(answer.read_text())
    return translated["version"], translated["templates"]


def measure(template: Template, translated: list[dict]) -> list[Measure]:
    """Each limited quantity of each stack, role and HTTP API."""
    measures, routes, integrations = [], Counter(), Counter()
    top = template.root
    for stack, expanded in zip(template.stacks(), translated, strict=True):
        where = str(stack.path.relative_to(top)) if stack.path.is_relative_to(top) else str(stack.path)
        resources = expanded.get("Resources") or {}
        measures += [Measure("resources per stack", where, len(resources)),
                     Measure("outputs per stack", where, len(expanded.get("Outputs") or {})),
                     Measure("parameters per stack", where, len(expanded.get("Parameters") or {})),
                     Measure("template bytes after transform", where, len(json.dumps(expanded, separators=(",", ":"))))]
        for logical_id, resource in resources.items():
            properties = resource.get("Properties") or {}
            if resource["Type"] == "AWS::IAM::Role":
                measures += [
                    Measure("managed policies per role", f"{where} {logical_id}", len(properties.get("ManagedPolicyArns") or [])),
                    Measure("inline policy characters per role", f"{where} {logical_id}",
                            sum(len(json.dumps(policy.get("PolicyDocument"), separators=(",", ":")))
                                for policy in properties.get("Policies") or []))]
            elif resource["Type"] == "AWS::ApiGatewayV2::Route":
                routes[_api(stack, properties)] += 1
            elif resource["Type"] == "AWS::ApiGatewayV2::Integration":
                integrations[_api(stack, properties)] += 1
            elif resource["Type"] == "AWS::ApiGatewayV2::Api" and "Body" in properties:  # SAM's HttpApi
                operations = [method for item in (properties["Body"].get("paths") or {}).values() for method in item]
                routes[logical_id] += len(operations)
                integrations[logical_id] += len(operations)
    measures += [Measure("routes per HTTP API", api, count) for api, count in routes.items()]
    measures += [Measure("integrations per HTTP API", api, count) for api, count in integrations.items()]
    return measures


def _api(stack: Template, properties: dict) -> str:
    """The API a route or integration belongs to (its logical id), whichever stack declares it."""
    api_id = str(stack.resolve(properties["ApiId"]))
    return next((logical_id for owner in stack.top.stacks() for logical_id, resource in owner.resources.items()
                 if resource["Type"] == "AWS::ApiGatewayV2::Api" and str(owner.ref(logical_id)) == api_id), api_id)


def over(measures: list[Measure], threshold: float) -> list[Measure]:
    """The measures at or over ``threshold`` of their limit, most used first."""
    return sorted((m for m in measures if m.share >= threshold), key=lambda m: -m.share)


def highest(measures: list[Measure]) -> list[Measure]:
    """The most used of each limit."""
    best: dict[str, Measure] = {}
    for m in measures:
        if m.limit not in best or m.share > best[m.limit].share:
            best[m.limit] = m
    return [best[limit] for limit in LIMITS if limit in best]


def run(template_path: str | None, envs: list[str], threshold: float, tools_python: Path | None) -> int:
    """The CLI: each env's stacks measured; exit 1 when anything reaches ``threshold``."""
    failures = 0
    for env in envs:
        probe = load_template(template_path)
        template = load_template(probe.path, parameters=samconfig_parameters(probe.root, env))
        version, translated = translate(template, tools_python or probe.root / ".venv-tools" / "bin" / "python")
        measures = measure(template, translated)
        print(f"samconfig env {env!r}: {len(template.stacks())} stacks, translated by aws-sam-translator {version}")
        for m in highest(measures):
            print(f"  highest {m.describe()}")
        bad = over(measures, threshold)
        for m in bad:
            print(f"  OVER {threshold:.0%}: {m.describe()}")
        failures += len(bad)
    return 1 if failures else 0
