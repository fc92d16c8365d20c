"""IAM as AWS applies it, proven by the tests: every AWS call a function makes is evaluated
against that function's role as CloudFormation would create it.

- The running function (its template logical id) is known while the local runtime invokes it
  and while the handler tests call it (``running``).
- Each call becomes the IAM requests AWS authorizes for it (``iam_requests``): the action per
  API, each part of a TransactWriteItems, Query on ``table/T/index/I``, SendMessageBatch as
  sqs:SendMessage, iam:PassRole with iam:PassedToService for a schedule's target role, SES's
  ses:FromAddress ...
- The policies come from template.yaml and each stack it nests, expanded by aws-sam-translator
  (policy templates and the template's managed policies turned into plain statements), with
  intrinsics resolved to the names and ARNs the local runtime and the tests use. A managed policy
  a nested stack's role names by a parameter is the one of the stack that passed it.
- A request is allowed when no Deny matches and an Allow does (Action/NotAction,
  Resource/NotResource, Condition). A denial is recorded (the tests fail on it) and logged.

Every call evaluated is also written, once, to AUTOMATIONS_AWS_CALLS_DIR when set, from which
``automations iam-report`` re-evaluates them all and lists the grants no call used."""
from __future__ import annotations

import contextlib
import contextvars
import copy
import email.utils
import functools
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from automations_local import LOGGER_NAME
from automations_local.aws_model_check import Findings, register_on_every_session
from automations_local.template import ACCOUNT_ID, Template, yaml_anchors

log = logging.getLogger(LOGGER_NAME)

ENV_FLAG = "AUTOMATIONS_CHECK_IAM"
CALLS_DIR_ENV = "AUTOMATIONS_AWS_CALLS_DIR"
EVENT = "before-parameter-build.*.*"

# The AWS managed policies SAM attaches to function roles, as AWS publishes them (the parts a
# function's own code could use). Others are listed as not modelled, granting nothing here.
AWS_MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": [
        {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": "*"}],
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess": [
        {"Effect": "Allow", "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords",
                                       "xray:GetSamplingRules", "xray:GetSamplingTargets",
                                       "xray:GetSamplingStatisticSummaries"], "Resource": "*"}],
    "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole": [
        {"Effect": "Allow", "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                                       "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": "*"}],
}

_function: contextvars.ContextVar[str | None] = contextvars.ContextVar("aws_calls_function", default=None)
_lock = threading.Lock()
_template: Template | None = None
_models: dict[tuple, IamModel] = {}
_override: IamModel | None = None  # a test's changed policies
denials = Findings()
_written: set[str] = set()


class IamModelError(Exception):
    """The template uses IAM this evaluator does not model (say so rather than guess)."""


# --- requests ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One authorization AWS makes for a call."""

    api: str  # "dynamodb.TransactWriteItems"
    action: str  # "dynamodb:PutItem"
    resource: str  # an ARN, or "*" for actions on no resource (SMS to a phone number)
    context: tuple[tuple[str, str], ...] = ()  # condition keys

    def to_json(self) -> dict:
        return {"api": self.api, "action": self.action, "resource": self.resource, "context": dict(self.context)}

    @classmethod
    def from_json(cls, data: dict) -> Request:
        return cls(data["api"], data["action"], data["resource"], tuple(sorted(data["context"].items())))


def iam_requests(prefix: str, service: str, operation: str, params: dict, region: str) -> list[Request]:
    """What IAM authorizes for ``operation`` of ``service`` (botocore's names) with ``params``;
    ``prefix`` is the service's IAM prefix (its signing name)."""
    api = f"{service}.{operation}"

    def request(action: str, resource: str, **context: str) -> Request:
        return Request(api, f"{prefix}:{action}", resource, tuple(sorted(context.items())))

    arn = functools.partial(_arn, prefix, region)
    if prefix == "dynamodb":
        def table(name: str, index: str | None = None) -> str:
            base = name if name.startswith("arn:") else arn(f"table/{name}")
            return f"{base}/index/{index}" if index else base

        if operation == "TransactWriteItems":
            parts = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                     "ConditionCheck": "ConditionCheckItem"}
            return [request(parts[kind], table(item["TableName"]))
                    for entry in params.get("TransactItems", []) for kind, item in entry.items()]
        if operation == "TransactGetItems":
            return [request("GetItem", table(entry["Get"]["TableName"])) for entry in params.get("TransactItems", [])]
        if operation in ("BatchGetItem", "BatchWriteItem"):
            return [request(operation, table(name)) for name in params.get("RequestItems", {})]
        if "TableName" in params:
            return [request(operation, table(params["TableName"], params.get("IndexName")))]
    if prefix == "sqs":
        action = operation.removesuffix("Batch")  # SendMessageBatch is authorized as SendMessage, ...
        if "QueueUrl" in params:
            account, name = urlparse(params["QueueUrl"]).path.strip("/").split("/")[-2:]
            return [request(action, f"arn:aws:sqs:{region}:{account}:{name}")]
        if "QueueName" in params:
            return [request(action, arn(params["QueueName"]))]
    if prefix == "scheduler" and "Name" in params and operation.endswith("Schedule"):
        schedule = arn(f"schedule/{params.get('GroupName') or 'default'}/{params['Name']}")
        requests = [request(operation, schedule)]
        role = (params.get("Target") or {}).get("RoleArn")
        if role:
            requests.append(Request(api, "iam:PassRole", role, (("iam:PassedToService", "scheduler.amazonaws.com"),)))
        return requests
    if prefix == "ses" and operation in ("SendEmail", "SendRawEmail", "SendTemplatedEmail", "SendBulkEmail"):
        sender = params.get("FromEmailAddress") or params.get("Source") or ""
        address = email.utils.parseaddr(sender)[1]
        requests = [request(operation, arn(f"identity/{address}"), **{"ses:FromAddress": address})]
        if params.get("ConfigurationSetName"):
            requests.append(request(operation, arn(f"configuration-set/{params['ConfigurationSetName']}"),
                                    **{"ses:FromAddress": address}))
        return requests
    if prefix == "sns" and operation == "Publish":
        return [request("Publish", params.get("TopicArn") or params.get("TargetArn") or "*")]
    if prefix == "events" and operation == "PutEvents":
        buses = {entry.get("EventBusName") or "default" for entry in params.get("Entries", [])}
        return [request("PutEvents", bus if bus.startswith("arn:") else arn(f"event-bus/{bus}"))
                for bus in sorted(buses)]
    if prefix == "lambda" and "FunctionName" in params:
        name = params["FunctionName"]
        return [request(operation, name if name.startswith("arn:") else arn(f"function:{name}"))]
    return [request(operation, "*")]


def _arn(prefix: str, region: str, resource: str) -> str:
    return f"arn:aws:{prefix}:{region}:{ACCOUNT_ID}:{resource}"


# --- policies ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    source: str  # where it comes from: "RunStartingPolicy", "DynamoDBCrudPolicy (Policies[0])", ...
    index: int  # its position in that policy
    document: dict = field(hash=False, compare=False)

    @property
    def effect(self) -> str:
        return self.document.get("Effect", "Allow")

    def actions(self) -> list[str]:
        return _as_list(self.document.get("Action") or self.document.get("NotAction"))

    def matches(self, request: Request) -> bool:
        document = self.document
        if "Action" in document:
            if not any(_action_matches(pattern, request.action) for pattern in _as_list(document["Action"])):
                return False
        elif any(_action_matches(pattern, request.action) for pattern in _as_list(document.get("NotAction"))):
            return False
        if "Resource" in document:
            if not any(_glob(pattern, request.resource) for pattern in _as_list(document["Resource"])):
                return False
        elif any(_glob(pattern, request.resource) for pattern in _as_list(document.get("NotResource"))):
            return False
        return _conditions_hold(document.get("Condition") or {}, dict(request.context))

    def grants(self) -> list[str]:
        """What this statement grants, entry by entry: its actions (or its NotAction as one)."""
        return self.actions() if "Action" in self.document else [f"NotAction {self.actions()}"]

    def granted(self, request: Request) -> list[str]:
        """The grants of this statement that ``request`` used."""
        if not self.matches(request):
            return []
        return [g for g in self.grants() if "Action" not in self.document or _action_matches(g, request.action)]

    def describe(self) -> str:
        return f"{self.source} statement {self.index}"


@dataclass
class Decision:
    allowed: bool
    allows: list[Statement]
    denies: list[Statement]


class IamModel:
    """Each function's statements, from every stack of the template expanded as CloudFormation
    receives it. ``expanded`` replaces some stacks' expansions (a test's changed policies), by
    the stack's template path."""

    def __init__(self, template: Template, expanded: dict[Path, dict] | None = None) -> None:
        self.template = template
        expansions = {stack.path: (expanded or {}).get(stack.path) or expand(stack) for stack in template.stacks()}
        # A managed policy of any stack, by the ARN its Ref gives (what a nested stack is passed).
        self._managed = {stack.arn(logical_id): (stack, logical_id, expansions[stack.path]["Resources"][logical_id])
                         for stack in template.stacks() for logical_id, resource in stack.resources.items()
                         if resource["Type"] == "AWS::IAM::ManagedPolicy"}
        self.statements: dict[str, list[Statement]] = {}
        self.not_modelled: dict[str, list[str]] = {}
        for stack in template.stacks():
            resources = expansions[stack.path]["Resources"]
            anchors = yaml_anchors(stack.path)  # once a stack: parsing it again per function took seconds
            for logical_id, resource in resources.items():
                if resource["Type"] != "AWS::Lambda::Function":
                    continue
                role = (resource["Properties"].get("Role") or {}).get("Fn::GetAtt", [None])[0]
                if role not in resources:
                    raise IamModelError(f"{logical_id}: its Role is not a role of this template")
                self.statements[logical_id], self.not_modelled[logical_id] = self._role_statements(
                    stack, logical_id, role, resources, stack.raw["Resources"].get(logical_id) or {}, anchors)

    def _role_statements(self, stack: Template, function_id: str, role_id: str, resources: dict,
                         original: dict, anchors: dict) -> tuple[list[Statement], list[str]]:
        labels = _policy_labels(original, anchors)
        properties = resources[role_id]["Properties"]
        statements, not_modelled = [], []
        for policy in properties.get("Policies") or []:
            name = policy["PolicyName"]
            number = name.removeprefix(f"{role_id}Policy")
            label = labels.get(int(number), name) if number.isdigit() else name
            statements += self._document(stack, label, policy["PolicyDocument"])
        for reference in properties.get("ManagedPolicyArns") or []:
            arn = stack.resolve(reference)
            if arn in self._managed:
                owner, logical_id, managed = self._managed[arn]
                statements += self._document(owner, logical_id, managed["Properties"]["PolicyDocument"])
            elif isinstance(reference, dict) and set(reference) == {"Ref"} and reference["Ref"] in resources:
                raise IamModelError(f"{function_id}: {reference['Ref']} is not a managed policy of the template")
            elif arn in AWS_MANAGED_POLICIES:
                statements += [Statement(arn.rsplit("/", 1)[1], i, s) for i, s in enumerate(AWS_MANAGED_POLICIES[arn])]
            else:
                not_modelled.append(str(arn))
        for logical_id, resource in resources.items():  # AWS::IAM::Policy resources naming the role
            if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and \
                    {"Ref": role_id} in (resource["Properties"].get("Roles") or []):
                statements += self._document(stack, logical_id, resource["Properties"]["PolicyDocument"])
        return statements, not_modelled

    def _document(self, stack: Template, source: str, document: dict) -> list[Statement]:
        resolved = stack.resolve(copy.deepcopy(document))
        return [Statement(source, index, statement) for index, statement in enumerate(_as_list(resolved["Statement"]))]

    def decide(self, function_id: str, request: Request) -> Decision:
        statements = self.statements[function_id]
        denies = [s for s in statements if s.effect == "Deny" and s.matches(request)]
        allows = [s for s in statements if s.effect == "Allow" and s.matches(request)]
        return Decision(not denies and bool(allows), allows, denies)

    def explain(self, function_id: str, request: Request, decision: Decision) -> str:
        context = "".join(f", {key}={value}" for key, value in request.context)
        text = (f"{function_id} may not call {request.api}: IAM denies {request.action} on {request.resource}"
                f"{context}")
        if decision.denies:
            return text + " (explicit Deny in " + ", ".join(s.describe() for s in decision.denies) + ")"
        near = [s.describe() for s in self.statements[function_id] if s.effect == "Allow"
                and any(_action_matches(a, request.action) for a in s.actions())]
        hint = f"; statements allowing {request.action} elsewhere: {', '.join(near)}" if near else ""
        missing = f"; not modelled: {', '.join(self.not_modelled[function_id])}" if self.not_modelled[function_id] else ""
        where = self.template.stack_of(function_id).path.name
        return (text + f". Grant {request.action} on {request.resource} to {function_id}'s role in "
                f"{where} (no Allow matches{hint}{missing})")


def expand(stack: Template) -> dict:
    """One stack's template as CloudFormation receives it, by aws-sam-translator (a copy: change
    it freely); its parameters take the values the stack is deployed with."""
    return copy.deepcopy(_expanded(stack))


def translatable(raw: dict) -> dict:
    """A copy of a template the translator takes: it wants S3 locations, as `sam package` makes."""
    raw = copy.deepcopy(raw)
    for resource in (raw.get("Resources") or {}).values():
        properties = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri", "DefinitionUri", "Location"):
            if isinstance(properties.get(key), str) and not properties[key].startswith(("s3://", "https://")):
                properties[key] = (f"https://s3.amazonaws.com/placeholder/{properties[key]}" if key == "Location"
                                   else f"s3://placeholder/{properties[key]}")
    return raw


@functools.cache
def _expanded(stack: Template) -> dict:
    """Expanding takes seconds, so every test process shares one expansion per template text
    (a file in the temporary directory, keyed by the template, its parameter values and the
    translator's version)."""
    from samtranslator import __version__ as translator_version

    raw = translatable(stack.raw)
    parameters = stack.parameter_values()
    key = hashlib.sha256(json.dumps([raw, parameters, stack.region, translator_version], sort_keys=True,
                                    default=str).encode()).hexdigest()[:24]
    cached = Path(tempfile.gettempdir()) / f"automations-expanded-{key}.json"
    if cached.exists():
        return json.loads(cached.read_text())
    expanded = _translate(raw, parameters, stack.region)
    partial = cached.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(expanded))
    os.replace(partial, cached)  # atomic: a concurrent process reads the whole file or none
    return expanded


def _translate(raw: dict, parameters: dict[str, str], region: str) -> dict:
    from samtranslator.translator.transform import transform

    saved = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = region  # the translator reads the region from the environment
    try:
        return transform(raw, parameters, _NoManagedPolicyNames())
    finally:
        if saved is None:
            os.environ.pop("AWS_DEFAULT_REGION", None)
        else:
            os.environ["AWS_DEFAULT_REGION"] = saved


class _NoManagedPolicyNames:
    """Policies named by a bare AWS managed policy name would need IAM to look up."""

    def load(self) -> dict[str, str]:
        raise IamModelError("name AWS managed policies by ARN in template.yaml (no IAM to look names up)")


def _policy_labels(function_resource: dict, anchors: dict) -> dict[int, str]:
    """SAM's inline policy N is the function's Policies[N]: name it as the template does (a
    document shared through a YAML anchor by the anchor's name)."""
    policies = (function_resource.get("Properties") or {}).get("Policies") or []
    labels = {}
    for position, policy in enumerate(policies if isinstance(policies, list) else [policies]):
        if isinstance(policy, dict) and len(policy) == 1 and next(iter(policy)) not in ("Ref", "Statement"):
            labels[position] = f"{next(iter(policy))} (Policies[{position}])"
        elif isinstance(policy, dict) and "Statement" in policy:
            anchor = next((name for name, value in anchors.items() if value == policy), None)
            labels[position] = anchor or f"inline Statement (Policies[{position}])"
    return labels


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


@functools.cache
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _glob(pattern: str, value: str) -> bool:
    return bool(_wildcard(str(pattern), False).match(value))


def _action_matches(pattern: str, action: str) -> bool:
    return bool(_wildcard(str(pattern), True).match(action))  # actions are case-insensitive


_OPERATORS = {
    "StringEquals": lambda want, have: have == want,
    "StringLike": lambda want, have: _glob(want, have),
    "ArnEquals": lambda want, have: have == want,
    "ArnLike": lambda want, have: _glob(want, have),
    "StringEqualsIgnoreCase": lambda want, have: have.lower() == want.lower(),
}


def _conditions_hold(conditions: dict, context: dict[str, str]) -> bool:
    for operator, tests in conditions.items():
        if_exists = operator.endswith("IfExists")
        name = operator.removesuffix("IfExists")
        negated = name.replace("Not", "", 1) if "Not" in name else None
        compare = _OPERATORS.get(negated or name)
        if compare is None:
            raise IamModelError(f"condition operator {operator} is not modelled")
        for key, wanted in tests.items():
            have = next((v for k, v in context.items() if k.lower() == key.lower()), None)
            if have is None:
                if if_exists or negated:
                    continue
                return False
            hit = any(compare(str(w), have) for w in _as_list(wanted))
            if hit == bool(negated):
                return False
    return True


# --- recording -----------------------------------------------------------------------------------


@contextlib.contextmanager
def running(function_id: str) -> Iterator[None]:
    """AWS calls made inside are this function's (its template logical id)."""
    token = _function.set(function_id)
    try:
        yield
    finally:
        _function.reset(token)


def enabled() -> bool:
    return os.environ.get(ENV_FLAG) == "1"


def enable(template: Template | None) -> Template | None:
    """Evaluate every call a function of ``template`` makes from now on (None: no template's);
    returns the template evaluated before, to give back. The model is built at the first such
    call (expanding the template takes seconds), once per template file."""
    global _template
    with _lock:
        previous, _template = _template, template
    register_on_every_session(EVENT, record_call)
    return previous


def current_model() -> IamModel | None:
    """The model calls are evaluated against (None until enabled); one per template."""
    with _lock:
        if _override is not None:
            return _override
        if _template is None:
            return None
        key = (_template.path, _template.stack_name, _template.region)
        if key not in _models:
            _models[key] = IamModel(_template)
        return _models[key]


@contextlib.contextmanager
def evaluating(replacement: IamModel) -> Iterator[None]:
    """Evaluate against ``replacement`` inside (a test's changed policies)."""
    global _override
    with _lock:
        saved, _override = _override, replacement
    try:
        yield
    finally:
        with _lock:
            _override = saved


def record_call(params: dict, model, context: dict | None = None, **_) -> None:
    function_id = _function.get()
    if function_id is None:
        return  # not a function's call: set-up, or the runtime's own drivers
    iam = current_model()
    if iam is None or function_id not in iam.statements:
        return  # another template's function
    with _lock:
        reported = _override is None  # the report reads the template's policies, not a test's own
    service = model.service_model
    region = (context or {}).get("client_region") or iam.template.region
    for request in iam_requests(service.signing_name, service.service_name, model.name, params, region):
        decision = iam.decide(function_id, request)
        if reported:
            _write(function_id, request)
        if not decision.allowed:
            message = iam.explain(function_id, request, decision)
            denials.add([message])
            log.error("%s", message)


def _write(function_id: str, request: Request) -> None:
    directory = os.environ.get(CALLS_DIR_ENV)
    if not directory:
        return
    line = json.dumps({"function": function_id, **request.to_json()}, sort_keys=True)
    with _lock:
        if line in _written:
            return
        _written.add(line)
        Path(directory).mkdir(parents=True, exist_ok=True)
        with open(Path(directory) / f"calls-{os.getpid()}.jsonl", "a") as out:
            out.write(line + "\n")


# --- the report ----------------------------------------------------------------------------------


def read_calls(directory: str | os.PathLike) -> list[tuple[str, Request]]:
    calls = set()
    for path in sorted(Path(directory).glob("calls-*.jsonl")):
        for line in path.read_text().splitlines():
            if line.strip():
                data = json.loads(line)
                calls.add((data.pop("function"), Request.from_json(data)))
    return sorted(calls, key=lambda call: (call[0], call[1].action, call[1].resource))


@dataclass
class Report:
    denials: list[str]
    unused: dict[str, list[str]]  # function -> the actions of its Allows no recorded call used
    silent: list[str]  # functions with no recorded call
    not_modelled: dict[str, list[str]]


def report(model: IamModel, calls: Iterable[tuple[str, Request]]) -> Report:
    used: dict[str, set] = {}
    denied = []
    for function_id, request in calls:
        if function_id not in model.statements:
            denied.append(f"{function_id}: recorded, but not a function of the template")
            continue
        decision = model.decide(function_id, request)
        if not decision.allowed:
            denied.append(model.explain(function_id, request, decision))
        used.setdefault(function_id, set()).update(
            (statement.source, statement.index, grant) for statement in decision.allows
            for grant in statement.granted(request))
    unused = {}
    for function_id, statements in model.statements.items():
        if function_id not in used:
            continue
        lines = [f"{s.source}: {grant}" for s in statements if s.effect == "Allow" and s.source not in _MANAGED_NAMES
                 for grant in s.grants() if (s.source, s.index, grant) not in used[function_id]]
        if lines:
            unused[function_id] = lines
    silent = sorted(set(model.statements) - set(used))
    return Report(sorted(set(denied)), unused, silent,
                  {f: arns for f, arns in model.not_modelled.items() if arns})


_MANAGED_NAMES = {arn.rsplit("/", 1)[1] for arn in AWS_MANAGED_POLICIES}


def format_report(result: Report) -> str:
    lines = []
    if result.denials:
        lines.append(f"DENIED ({len(result.denials)}):")
        lines += [f"  {d}" for d in result.denials]
    lines.append("Grants no recorded call used:" if result.unused else "Every grant was used by a recorded call.")
    for function_id, grants in sorted(result.unused.items()):
        lines.append(f"  {function_id}")
        lines += [f"    {g}" for g in grants]
    if result.silent:
        lines.append("Functions with no recorded AWS call (their grants are unproven): " + ", ".join(result.silent))
    for function_id, arns in sorted(result.not_modelled.items()):
        lines.append(f"  {function_id}: AWS managed policies not modelled: {', '.join(arns)}")
    return "\n".join(lines)
