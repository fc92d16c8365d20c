"""Reads template.yaml and the stacks it nests, the one source of truth for what the local runtime
serves and creates.

Only what the local runtime needs is modelled: functions, HTTP API routes and their authorizers,
the resources to create in the emulated AWS, and the event sources later drivers fire. Intrinsic
functions are resolved to plausible local values (names, ARNs, queue URLs).

A nested stack (``AWS::Serverless::Application`` with a local ``Location``) is loaded as its own
``Template``, with the parameter values its parent passes and the stack name
``<parent>-<logical id>``; each stack resolves its own references, as CloudFormation does. Logical
ids are unique across the tree, so the top template answers for any stack's function, route or
resource by logical id."""
from __future__ import annotations

import base64
import copy
import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_STACK_NAME = "automations-local"
DEFAULT_REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
# The values the local runtime deploys with where the template has no default on purpose (a deploy
# must name them): a dev stage, sending from a placeholder address moto accepts once verified, and
# a release (which names each function's published version; nothing publishes versions locally).
LOCAL_PARAMETERS = {"Stage": "dev", "SenderEmail": "automations@example.com", "Release": "0" * 64}


class LocalTemplateError(Exception):
    """The template cannot be served locally (unknown reference, unsupported construct)."""


# --- YAML with CloudFormation short tags -------------------------------------------------------


class CfnLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """SafeLoader (libyaml's when there: ten times faster on these templates) that turns short tags
    (``!Ref X``) into their long forms (``{"Ref": "X"}``)."""


def _construct(node: yaml.Node, loader: CfnLoader) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


def _register_tag(tag: str, long_name: str) -> None:
    def construct(loader: CfnLoader, node: yaml.Node) -> dict:
        value = _construct(node, loader)
        if long_name == "Fn::GetAtt" and isinstance(value, str):
            value = value.split(".", 1)  # "Table.Arn"; attribute names may hold dots themselves
        return {long_name: value}

    CfnLoader.add_constructor(f"!{tag}", construct)


for _tag in ("Ref", "Condition"):
    _register_tag(_tag, _tag)
for _tag in ("GetAtt", "Sub", "Join", "If", "Equals", "Select", "Split", "FindInMap", "Not", "And",
             "Or", "Base64", "GetAZs", "ImportValue", "Cidr", "Transform", "ToJsonString", "Contains"):
    _register_tag(_tag, f"Fn::{_tag}")


@functools.lru_cache(maxsize=64)
def _parsed(path: Path, mtime_ns: int) -> tuple[Any, dict[str, Any]]:
    """A template file's data and the value each YAML anchor names (a policy document several
    roles share), read once while the file is unchanged: the runtime, the IAM model and the tests
    each read the nine stacks."""
    text = path.read_text(encoding="utf-8")
    data = yaml.load(text, Loader=CfnLoader)  # noqa: S506 - CfnLoader is a SafeLoader
    anchored = {}
    for anchor, where in _anchor_paths(text).items():
        value = data
        for step in where:
            value = value[step]
        anchored[anchor] = value
    return data, anchored


def _anchor_paths(text: str) -> dict[str, tuple]:
    """Where each anchored node of a YAML document lies (keys and indexes from the root), read
    from the parser's events: libyaml's loader composes in C, out of reach of a subclass."""
    paths: dict[str, tuple] = {}
    open_nodes: list[_Collection] = []
    for event in yaml.parse(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
        starts = isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent))
        if starts:
            where = open_nodes[-1].place(event) if open_nodes else ()
            if where is None:
                continue  # a mapping's key
            if getattr(event, "anchor", None) and not isinstance(event, yaml.AliasEvent):
                paths[event.anchor] = where
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                open_nodes.append(_Collection(where, isinstance(event, yaml.SequenceStartEvent)))
                continue
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            open_nodes.pop()
        else:
            continue
        if open_nodes:
            open_nodes[-1].done()
    return paths


class _Collection:
    """An open mapping or sequence while reading events: where its next value goes."""

    def __init__(self, path: tuple, is_sequence: bool) -> None:
        self.path, self.is_sequence = path, is_sequence
        self.index, self.key, self.expecting_key = 0, None, not is_sequence

    def place(self, event) -> tuple | None:
        """The path of the node ``event`` starts, or None when it is a key (always a scalar here)."""
        if self.expecting_key:
            self.key, self.expecting_key = event.value, False
            return None
        return (*self.path, self.index if self.is_sequence else self.key)

    def done(self) -> None:
        """A value of this collection ended."""
        if self.is_sequence:
            self.index += 1
        else:
            self.expecting_key = True


def _parse(path: Path) -> tuple[Any, dict[str, Any]]:
    path = Path(path).resolve()
    return _parsed(path, path.stat().st_mtime_ns)


def load_yaml(path: Path) -> dict:
    return copy.deepcopy(_parse(path)[0])  # a copy: callers resolve and change what they read


def yaml_anchors(path: Path) -> dict[str, Any]:
    """The value each YAML anchor of a template names, by anchor."""
    return copy.deepcopy(_parse(path)[1])


def find_template() -> Path:
    """template.yaml in the working directory or above it, else at the root of this checkout."""
    here = Path.cwd().resolve()
    package_root = Path(__file__).resolve().parents[2]
    for directory in (here, *here.parents, package_root):
        candidate = directory / "template.yaml"
        if candidate.is_file():
            return candidate
    raise LocalTemplateError("no template.yaml found in the working directory, its parents or the checkout")


# --- the model ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionEvent:
    function_id: str
    name: str  # the event's key under the function's Events
    type: str  # HttpApi, ScheduleV2, Schedule, SQS, ...
    properties: dict  # resolved


@dataclass(frozen=True)
class Function:
    logical_id: str
    name: str  # physical FunctionName
    code_dir: Path
    handler: str  # "module.func", module dotted relative to code_dir
    memory_mb: int
    timeout_s: int
    environment: dict[str, str]  # resolved, as Lambda would see it
    events: tuple[FunctionEvent, ...]
    # Asynchronous invocations (EventBridge Scheduler's): Lambda's retries after a function
    # error, then the EventInvokeConfig OnFailure destination, if any.
    async_retries: int = 2
    on_failure_arn: str | None = None
    alias: str | None = None  # AutoPublishAlias: what the API, schedules and queues invoke

    @property
    def handler_file(self) -> Path:
        module, _ = self.handler.rsplit(".", 1)
        return self.code_dir / (module.replace(".", "/") + ".py")

    @property
    def handler_name(self) -> str:
        return self.handler.rsplit(".", 1)[1]


@dataclass(frozen=True)
class Authorizer:
    """A Lambda REQUEST authorizer, payload 2.0 with simple responses (the only kind served)."""

    name: str
    function_id: str
    identity_headers: tuple[str, ...] = ()
    identity_query_strings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Route:
    method: str  # upper case, or ANY
    path: str  # "/api/v2/automations/{id}", or "$default"
    function_id: str
    api_id: str  # logical id of the HttpApi
    authorizer: Authorizer | None  # None: the route opts out (Auth: {Authorizer: NONE}) or none is set

    @property
    def key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"


@dataclass(frozen=True)
class Resource:
    logical_id: str
    type: str
    name: str  # physical name
    properties: dict  # resolved


# Property holding a resource's explicit physical name, per type.
_NAME_PROPERTY = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::Scheduler::ScheduleGroup": "Name",
    "AWS::Scheduler::Schedule": "Name",
    "AWS::Events::EventBus": "Name",
    "AWS::Events::Rule": "Name",
    "AWS::Serverless::Function": "FunctionName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Serverless::LayerVersion": "LayerName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::IAM::Role": "RoleName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
}

_ARN_FORMAT = {
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:{region}:{account}:table/{name}",
    "AWS::SQS::Queue": "arn:aws:sqs:{region}:{account}:{name}",
    "AWS::SNS::Topic": "arn:aws:sns:{region}:{account}:{name}",
    "AWS::Scheduler::ScheduleGroup": "arn:aws:scheduler:{region}:{account}:schedule-group/{name}",
    "AWS::Scheduler::Schedule": "arn:aws:scheduler:{region}:{account}:schedule/default/{name}",
    "AWS::Events::EventBus": "arn:aws:events:{region}:{account}:event-bus/{name}",
    "AWS::Events::Rule": "arn:aws:events:{region}:{account}:rule/{name}",
    "AWS::Serverless::Function": "arn:aws:lambda:{region}:{account}:function:{name}",
    "AWS::Lambda::Function": "arn:aws:lambda:{region}:{account}:function:{name}",
    "AWS::Serverless::LayerVersion": "arn:aws:lambda:{region}:{account}:layer:{name}:1",
    "AWS::Logs::LogGroup": "arn:aws:logs:{region}:{account}:log-group:{name}:*",
    "AWS::IAM::Role": "arn:aws:iam::{account}:role/{name}",
    "AWS::S3::Bucket": "arn:aws:s3:::{name}",
    "AWS::KMS::Key": "arn:aws:kms:{region}:{account}:key/{name}",
    "AWS::IAM::ManagedPolicy": "arn:aws:iam::{account}:policy/{name}",
}

# Types whose Ref is their ARN rather than their name (CloudFormation's rules).
_REF_IS_ARN = {"AWS::SNS::Topic", "AWS::Serverless::LayerVersion", "AWS::IAM::ManagedPolicy"}

# GetAtt attributes that are simply the physical name.
_NAME_ATTRIBUTES = {
    ("AWS::SQS::Queue", "QueueName"),
    ("AWS::SNS::Topic", "TopicName"),
    ("AWS::Events::EventBus", "Name"),
    ("AWS::Scheduler::ScheduleGroup", "Name"),
}

_NO_VALUE = object()  # AWS::NoValue: the enclosing key or item disappears
_IMPLICIT_HTTP_API = "ServerlessHttpApi"  # SAM's logical id for an HttpApi event without ApiId
_NESTED_STACK = "AWS::Serverless::Application"
_LAMBDA_AUTHORIZER_URI = re.compile(r"^arn:[^:]+:apigateway:[^:]+:lambda:path/[^/]+/functions/(.+)/invocations$")


class Template:
    """A loaded template with SAM Globals merged and intrinsics resolvable to local values."""

    def __init__(self, raw: dict, path: Path, *, stack_name: str = DEFAULT_STACK_NAME,
                 region: str = DEFAULT_REGION, aws_endpoint: str | None = None,
                 parameters: dict[str, str] | None = None, parent: Template | None = None) -> None:
        self.raw = raw
        self.path = path
        self.root = path.parent
        self.top: Template = parent.top if parent else self
        self.stack_name = stack_name
        self.region = region
        self.aws_endpoint = aws_endpoint
        self._parameter_values = dict(parameters or {})
        self._globals = raw.get("Globals") or {}
        self._conditions: dict[str, bool] = {}
        self._intrinsics = {
            "Ref": self._ref, "Fn::GetAtt": self._fn_get_att, "Fn::Sub": self._fn_sub,
            "Fn::Join": self._fn_join, "Fn::Select": self._fn_select, "Fn::Split": self._fn_split,
            "Fn::If": self._fn_if, "Fn::Equals": self._fn_equals, "Fn::Not": self._fn_not,
            "Fn::And": self._fn_and, "Fn::Or": self._fn_or, "Fn::FindInMap": self._fn_find_in_map,
            "Fn::Base64": self._fn_base64, "Fn::GetAZs": self._fn_get_azs,
            "Fn::ImportValue": self._fn_import_value, "Fn::Contains": self._fn_contains,
        }
        self.resources = {
            logical_id: self._with_globals(resource)
            for logical_id, resource in (raw.get("Resources") or {}).items()
            if "Condition" not in resource or self.condition(resource["Condition"])
        }
        self._functions = {
            logical_id: self._function(logical_id, resource)
            for logical_id, resource in self.resources.items()
            if resource["Type"] == "AWS::Serverless::Function"
        }
        self.children = {logical_id: self._nested(logical_id, resource)
                         for logical_id, resource in self.resources.items() if resource["Type"] == _NESTED_STACK}
        self._owners = self._index_owners() if parent is None else {}
        self.functions = {logical_id: function for stack in self.stacks() for logical_id, function
                          in stack._functions.items()}  # every stack's, by logical id
        self.routes = self._tree_routes() if parent is None else []

    # --- resources by kind -------------------------------------------------------------------

    def stacks(self) -> list[Template]:
        """This stack and every stack it nests, parents first."""
        return [self, *(stack for child in self.children.values() for stack in child.stacks())]

    def stack_of(self, logical_id: str) -> Template:
        """The stack of the tree that declares ``logical_id``."""
        if logical_id in self.resources:
            return self
        try:
            return self.top._owners[logical_id]
        except KeyError:
            raise LocalTemplateError(f"reference to unknown resource {logical_id!r}") from None

    def own_resources(self) -> list[Resource]:
        """This stack's resources (not its nested stacks'), resolved in this stack."""
        return [Resource(logical_id, resource["Type"], self.physical_name(logical_id),
                         self.resolve(resource.get("Properties") or {}))
                for logical_id, resource in self.resources.items()]

    def own_functions(self) -> list[Function]:
        return list(self._functions.values())

    def resolved(self, logical_id: str) -> dict:
        """A resource's properties resolved in the stack that declares it (Globals merged)."""
        stack = self.stack_of(logical_id)
        return stack.resolve(stack.resources[logical_id].get("Properties") or {})

    def resources_of(self, type_: str) -> list[Resource]:
        """Every stack's resources of the type, each resolved in its own stack."""
        return [resource for stack in self.stacks() for resource in stack.own_resources_of(type_)]

    def own_resources_of(self, type_: str) -> list[Resource]:
        return [
            Resource(logical_id, type_, self.physical_name(logical_id),
                     self.resolve(resource.get("Properties") or {}))
            for logical_id, resource in self.resources.items()
            if resource["Type"] == type_
        ]

    def parameter_values(self) -> dict[str, str]:
        """Every parameter's value in this stack, as CloudFormation passes them to a transform."""
        return {name: _parameter_string(self.parameter(name)) for name in self.raw.get("Parameters") or {}}

    @property
    def tables(self) -> list[Resource]:
        return self.resources_of("AWS::DynamoDB::Table")

    @property
    def queues(self) -> list[Resource]:
        return self.resources_of("AWS::SQS::Queue")

    @property
    def schedule_groups(self) -> list[Resource]:
        return self.resources_of("AWS::Scheduler::ScheduleGroup")

    @property
    def event_buses(self) -> list[Resource]:
        return self.resources_of("AWS::Events::EventBus")

    def shared_environment(self) -> tuple[dict[str, str], list[str]]:
        """Every function's environment in one (functions sharing one process share one): the
        first value of each variable, and a warning for each later function that differs."""
        chosen: dict[str, tuple[str, str]] = {}
        warnings = []
        for function in self.functions.values():
            for key, value in function.environment.items():
                if key in chosen and chosen[key][1] != value:
                    warnings.append(f"{function.logical_id} sets {key}={value!r} but {chosen[key][0]} set "
                                    f"{chosen[key][1]!r}; using the first")
                    continue
                chosen[key] = (function.logical_id, value)
        return {key: value for key, (_, value) in chosen.items()}, warnings

    def events(self, *types: str) -> list[FunctionEvent]:
        """Function event sources of the given types (ScheduleV2, Schedule, SQS, ...)."""
        return [event for function in self.functions.values() for event in function.events
                if event.type in types]

    # --- names and references ----------------------------------------------------------------

    def _resource(self, logical_id: str) -> dict:
        try:
            return self.resources[logical_id]
        except KeyError:
            raise LocalTemplateError(f"reference to unknown resource {logical_id!r}") from None

    # physical_name, arn, queue_url, ref and get_att answer for a resource of any stack of the
    # tree; inside a template (resolve) a reference must name a resource of its own stack.

    def physical_name(self, logical_id: str) -> str:
        if logical_id not in self.resources:
            return self.stack_of(logical_id).physical_name(logical_id)
        resource = self._resource(logical_id)
        properties = resource.get("Properties") or {}
        name_property = _NAME_PROPERTY.get(resource["Type"])
        if name_property and name_property in properties:
            return str(self.resolve(properties[name_property]))
        name = f"{self.stack_name}-{logical_id}"
        if resource["Type"] == "AWS::SQS::Queue" and properties.get("FifoQueue"):
            name += ".fifo"  # SQS insists on the suffix
        return name

    def arn(self, logical_id: str) -> str:
        if logical_id not in self.resources:
            return self.stack_of(logical_id).arn(logical_id)
        type_ = self._resource(logical_id)["Type"]
        try:
            arn_format = _ARN_FORMAT[type_]
        except KeyError:
            raise LocalTemplateError(f"no local ARN for {logical_id} ({type_})") from None
        return arn_format.format(region=self.region, account=ACCOUNT_ID, name=self.physical_name(logical_id))

    def queue_url(self, logical_id: str) -> str:
        if logical_id not in self.resources:
            return self.stack_of(logical_id).queue_url(logical_id)
        base = self.aws_endpoint.rstrip("/") if self.aws_endpoint else f"https://sqs.{self.region}.amazonaws.com"
        return f"{base}/{ACCOUNT_ID}/{self.physical_name(logical_id)}"

    def ref(self, name: str) -> Any:
        if name not in self.resources and name not in (self.raw.get("Parameters") or {}) \
                and not name.startswith("AWS::") and name.split(".")[0] not in self.resources:
            return self.stack_of(name.split(".")[0])._ref(name)
        return self._ref(name)

    def _ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{ACCOUNT_ID}:stack/{self.stack_name}/local",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::Partition": "aws",
            "AWS::NotificationARNs": [],
        }
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in pseudo:
            return pseudo[name]
        if name in (self.raw.get("Parameters") or {}):
            return self.parameter(name)
        if name.endswith(".Alias"):  # SAM's reference to a function's AutoPublishAlias
            function = self._functions.get(name.removesuffix(".Alias"))
            if function is None or function.alias is None:
                raise LocalTemplateError(f"!Ref {name}: no function of this stack with an AutoPublishAlias")
            return f"{self.arn(function.logical_id)}:{function.alias}"
        type_ = self._resource(name)["Type"]
        if type_ == "AWS::SQS::Queue":
            return self.queue_url(name)
        if type_ in _REF_IS_ARN:
            return self.arn(name)
        return self.physical_name(name)

    def parameter(self, name: str) -> Any:
        declared = self.raw["Parameters"][name]
        if name in self._parameter_values:
            value = self._parameter_values[name]
        elif "Default" in declared:
            value = declared["Default"]
        elif name in LOCAL_PARAMETERS:
            value = LOCAL_PARAMETERS[name]
        else:
            raise LocalTemplateError(f"parameter {name} has no Default and no value was given")
        if declared.get("Type") == "CommaDelimitedList" and isinstance(value, str):
            return value.split(",")
        return value

    def get_att(self, logical_id: str, attribute: str) -> Any:
        if logical_id not in self.resources:
            return self.stack_of(logical_id).get_att(logical_id, attribute)
        attribute_of = (self._resource(logical_id)["Type"], attribute)
        if attribute == "Arn":
            return self.arn(logical_id)
        if attribute_of in _NAME_ATTRIBUTES:
            return self.physical_name(logical_id)
        if attribute_of == ("AWS::Serverless::Function", "Version.Version"):
            return "$LATEST"  # SAM's published version; the local runtime's live alias runs $LATEST
        if attribute_of == ("AWS::SQS::Queue", "QueueUrl"):
            return self.queue_url(logical_id)
        if attribute_of == ("AWS::DynamoDB::Table", "StreamArn"):
            return f"{self.arn(logical_id)}/stream/local"
        raise LocalTemplateError(f"no local value for !GetAtt {logical_id}.{attribute}")

    # --- intrinsic functions -----------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        """Resolve every intrinsic function inside ``value`` to a local value."""
        if isinstance(value, dict):
            if len(value) == 1:
                ((key, argument),) = value.items()
                if key in self._intrinsics:
                    return self._intrinsics[key](argument)
            resolved = {key: self.resolve(item) for key, item in value.items()}
            return {key: item for key, item in resolved.items() if item is not _NO_VALUE}
        if isinstance(value, list):
            return [item for item in map(self.resolve, value) if item is not _NO_VALUE]
        return value

    def _fn_get_att(self, argument: list | str) -> Any:
        if isinstance(argument, str):
            argument = argument.split(".", 1)
        logical_id, attribute = self.resolve(argument)
        self._resource(logical_id)  # of this stack
        return self.get_att(logical_id, attribute)

    def _fn_sub(self, argument: str | list) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        variables = self.resolve(variables)

        def substitute(match: re.Match) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"  # ${!Literal} is the escape for a literal ${Literal}
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                return str(self._fn_get_att(name))
            return str(self._ref(name))

        return re.sub(r"\$\{([^}]+)\}", substitute, text)

    def _fn_join(self, argument: list) -> str:
        delimiter, items = self.resolve(argument)
        return delimiter.join(str(item) for item in items)

    def _fn_select(self, argument: list) -> Any:
        index, items = self.resolve(argument)
        return items[int(index)]

    def _fn_split(self, argument: list) -> list[str]:
        delimiter, text = self.resolve(argument)
        return text.split(delimiter)

    def _fn_if(self, argument: list) -> Any:
        name, when_true, when_false = argument
        return self.resolve(when_true if self.condition(name) else when_false)

    def _fn_equals(self, argument: list) -> bool:
        left, right = self.resolve(argument)
        return str(left) == str(right)  # CloudFormation compares the string forms

    def _fn_not(self, argument: list) -> bool:
        return not self._truth(argument[0])

    def _fn_and(self, argument: list) -> bool:
        return all(self._truth(item) for item in argument)

    def _fn_or(self, argument: list) -> bool:
        return any(self._truth(item) for item in argument)

    def _fn_find_in_map(self, argument: list) -> Any:
        mapping, top, second = self.resolve(argument)
        return self.raw["Mappings"][mapping][top][second]

    def _fn_base64(self, argument: Any) -> str:
        return base64.b64encode(str(self.resolve(argument)).encode()).decode()

    def _fn_get_azs(self, argument: Any) -> list[str]:
        return [f"{self.region}{zone}" for zone in "abc"]

    def _fn_import_value(self, argument: Any) -> Any:
        raise LocalTemplateError("Fn::ImportValue reads another stack's exports, which do not exist locally")

    def _fn_contains(self, argument: list) -> bool:
        values, value = self.resolve(argument)  # a rule function: is the value one of the list's
        return str(value) in [str(item) for item in values]

    def rule_failures(self) -> list[str]:
        """The template's Rules as CloudFormation applies them before a deploy: the description of
        each assertion these parameter values fail."""
        failures = []
        for name, rule in (self.raw.get("Rules") or {}).items():
            if "RuleCondition" in rule and not self._truth(rule["RuleCondition"]):
                continue
            failures += [f"{name}: {assertion.get('AssertDescription', 'assertion fails')}"
                         for assertion in rule.get("Assertions") or [] if not self._truth(assertion["Assert"])]
        return failures

    def _truth(self, argument: Any) -> bool:
        if isinstance(argument, dict) and set(argument) == {"Condition"}:
            return self.condition(argument["Condition"])
        return bool(self.resolve(argument))

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            try:
                definition = self.raw["Conditions"][name]
            except KeyError:
                raise LocalTemplateError(f"unknown condition {name!r}") from None
            self._conditions[name] = self._truth(definition)
        return self._conditions[name]

    # --- SAM ---------------------------------------------------------------------------------

    def _with_globals(self, resource: dict) -> dict:
        type_ = resource.get("Type", "")
        defaults = self._globals.get(type_.removeprefix("AWS::Serverless::")) if type_.startswith("AWS::Serverless::") else None
        if not defaults:
            return resource
        return {**resource, "Properties": _merge_globals(defaults, resource.get("Properties") or {})}

    def _function(self, logical_id: str, resource: dict) -> Function:
        properties = resource.get("Properties") or {}
        code_uri = properties.get("CodeUri")
        if not isinstance(code_uri, str):
            raise LocalTemplateError(f"{logical_id}: only a local CodeUri directory can be served")
        variables = self.resolve((properties.get("Environment") or {}).get("Variables") or {})
        events = tuple(
            FunctionEvent(logical_id, name, event["Type"], self.resolve(event.get("Properties") or {}))
            for name, event in (properties.get("Events") or {}).items()
        )
        invoke_config = self.resolve(properties.get("EventInvokeConfig") or {})
        on_failure = (invoke_config.get("DestinationConfig") or {}).get("OnFailure") or {}
        return Function(
            logical_id=logical_id,
            name=self.physical_name(logical_id),
            code_dir=(self.root / code_uri).resolve(),
            handler=properties["Handler"],
            memory_mb=int(self.resolve(properties.get("MemorySize", 128))),
            timeout_s=int(self.resolve(properties.get("Timeout", 3))),
            environment={key: _env_string(value) for key, value in variables.items()},
            events=events,
            async_retries=int(invoke_config.get("MaximumRetryAttempts", 2)),
            on_failure_arn=on_failure.get("Destination") if on_failure.get("Type") == "SQS" else None,
            alias=self.resolve(properties["AutoPublishAlias"]) if properties.get("AutoPublishAlias") else None,
        )

    # --- nested stacks ------------------------------------------------------------------------

    def _nested(self, logical_id: str, resource: dict) -> Template:
        properties = resource.get("Properties") or {}
        location = properties.get("Location")
        if not isinstance(location, str) or location.startswith(("s3://", "https://")):
            raise LocalTemplateError(f"{logical_id}: only a nested stack with a local Location can be served")
        path = (self.root / location).resolve()
        raw = load_yaml(path)
        given = {name: _parameter_string(value) for name, value in self.resolve(properties.get("Parameters") or {}).items()}
        unknown = sorted(set(given) - set(raw.get("Parameters") or {}))
        if unknown:
            raise LocalTemplateError(f"{logical_id} passes parameters {location} does not declare: {', '.join(unknown)}")
        return Template(raw, path, stack_name=f"{self.stack_name}-{logical_id}", region=self.region,
                        aws_endpoint=self.aws_endpoint, parameters=given, parent=self)

    def _index_owners(self) -> dict[str, Template]:
        owners: dict[str, Template] = {}
        for stack in self.stacks():
            for logical_id in stack.resources:
                if logical_id in owners:
                    raise LocalTemplateError(f"{logical_id} is declared by {owners[logical_id].path.name} and "
                                             f"{stack.path.name}: logical ids are unique across the nested stacks")
                owners[logical_id] = stack
        return owners

    def function_of_arn(self, arn: str) -> Function:
        """The function (of any stack) a Lambda ARN names, qualified by an alias or not."""
        unqualified = ":".join(str(arn).split(":")[:7])
        for function in self.top.functions.values():
            if self.top.arn(function.logical_id) == unqualified:
                return function
        raise LocalTemplateError(f"{arn} is not a function of the template")

    # --- routes -------------------------------------------------------------------------------

    def _tree_routes(self) -> list[Route]:
        routes: dict[tuple[str, str], Route] = {}
        for stack in self.stacks():
            for where, route in [*stack._routes(), *stack._declared_routes()]:
                if (route.api_id, route.key) in routes:
                    raise LocalTemplateError(f"route {route.key} is declared twice ({where})")
                routes[(route.api_id, route.key)] = route
        return list(routes.values())

    def _declared_routes(self) -> list[tuple[str, Route]]:
        """AWS::ApiGatewayV2::Route resources: a Lambda proxy integration each, authorized by a
        Lambda REQUEST authorizer (CUSTOM) or by nothing (NONE)."""
        routes = []
        for logical_id, resource in self.resources.items():
            if resource["Type"] != "AWS::ApiGatewayV2::Route":
                continue
            properties = self.resolve(resource.get("Properties") or {})
            method, _, path = str(properties["RouteKey"]).partition(" ")
            target = str(properties.get("Target", ""))
            integration = self._integration(logical_id, target.removeprefix("integrations/"))
            authorizer = None
            if properties.get("AuthorizationType", "NONE") == "CUSTOM":
                authorizer = self._declared_authorizer(logical_id, str(properties.get("AuthorizerId")))
            elif properties.get("AuthorizationType", "NONE") != "NONE":
                raise LocalTemplateError(f"{logical_id}: only CUSTOM (Lambda) or NONE authorization is served locally")
            route = Route(method.upper(), path or method, self.function_of_arn(integration).logical_id,
                          str(properties["ApiId"]), authorizer)
            routes.append((logical_id, route))
        return routes

    def _integration(self, route_id: str, integration_id: str) -> str:
        """The Lambda ARN an integration of this stack (named by its Ref) proxies to."""
        for logical_id, resource in self.resources.items():
            if resource["Type"] == "AWS::ApiGatewayV2::Integration" and self._ref(logical_id) == integration_id:
                properties = self.resolve(resource.get("Properties") or {})
                if properties.get("IntegrationType") != "AWS_PROXY" or str(properties.get("PayloadFormatVersion")) != "2.0":
                    raise LocalTemplateError(f"{logical_id}: only Lambda proxy integrations of payload 2.0 are served locally")
                return str(properties["IntegrationUri"])
        raise LocalTemplateError(f"{route_id}: its Target names no integration of its stack")

    def _declared_authorizer(self, route_id: str, authorizer_id: str) -> Authorizer:
        for stack in self.top.stacks():
            for logical_id, resource in stack.resources.items():
                if resource["Type"] != "AWS::ApiGatewayV2::Authorizer" or stack._ref(logical_id) != authorizer_id:
                    continue
                properties = stack.resolve(resource.get("Properties") or {})
                uri = _LAMBDA_AUTHORIZER_URI.match(str(properties.get("AuthorizerUri", "")))
                if properties.get("AuthorizerType") != "REQUEST" or uri is None:
                    raise LocalTemplateError(f"{logical_id}: only a Lambda REQUEST authorizer is served locally")
                if str(properties.get("AuthorizerPayloadFormatVersion")) != "2.0" or properties.get("EnableSimpleResponses") is not True:
                    raise LocalTemplateError(f"{logical_id}: only payload 2.0 with simple responses is served locally")
                sources = [str(source) for source in properties.get("IdentitySource") or []]
                return Authorizer(str(properties.get("Name", logical_id)), stack.function_of_arn(uri.group(1)).logical_id,
                                  tuple(s.removeprefix("$request.header.") for s in sources if s.startswith("$request.header.")),
                                  tuple(s.removeprefix("$request.querystring.") for s in sources
                                        if s.startswith("$request.querystring.")))
        raise LocalTemplateError(f"{route_id}: its AuthorizerId names no authorizer of the template")

    def _http_api_properties(self, api_id: str) -> dict:
        if api_id == _IMPLICIT_HTTP_API:
            return self._globals.get("HttpApi") or {}
        resource = self._resource(api_id)
        if resource["Type"] != "AWS::Serverless::HttpApi":
            raise LocalTemplateError(f"{api_id} is not an AWS::Serverless::HttpApi")
        return resource.get("Properties") or {}

    def _authorizer(self, api_id: str, name: str) -> Authorizer:
        declared = ((self._http_api_properties(api_id).get("Auth") or {}).get("Authorizers") or {}).get(name)
        if declared is None:
            raise LocalTemplateError(f"{api_id} has no authorizer {name!r}")
        function_arn = declared.get("FunctionArn")
        target = function_arn.get("Fn::GetAtt") if isinstance(function_arn, dict) else None
        if isinstance(target, str):
            target = target.split(".", 1)
        if not target or target[1] != "Arn" or target[0] not in self._functions:
            raise LocalTemplateError(f"authorizer {name}: FunctionArn must be !GetAtt <Function>.Arn of this template")
        if str(declared.get("AuthorizerPayloadFormatVersion")) != "2.0" or declared.get("EnableSimpleResponses") is not True:
            raise LocalTemplateError(f"authorizer {name}: only payload 2.0 with simple responses is served locally")
        identity = declared.get("Identity") or {}
        return Authorizer(name, target[0], tuple(identity.get("Headers") or ()),
                          tuple(identity.get("QueryStrings") or ()))

    def _routes(self) -> list[tuple[str, Route]]:
        """Routes of SAM HttpApi events (their API in this stack: SAM cannot name another's)."""
        routes = []
        for function_id, resource in self.resources.items():
            if resource["Type"] != "AWS::Serverless::Function":
                continue
            for name, event in ((resource.get("Properties") or {}).get("Events") or {}).items():
                if event.get("Type") != "HttpApi":
                    continue
                properties = event.get("Properties") or {}
                api_ref = properties.get("ApiId")
                api_id = api_ref["Ref"] if isinstance(api_ref, dict) else _IMPLICIT_HTTP_API
                route = Route(
                    method=str(properties.get("Method", "ANY")).upper(),
                    path=properties.get("Path", "$default"),
                    function_id=function_id,
                    api_id=api_id,
                    authorizer=self._route_authorizer(api_id, properties.get("Auth") or {}),
                )
                routes.append((f"{function_id}.{name}", route))
        return routes

    def _route_authorizer(self, api_id: str, route_auth: dict) -> Authorizer | None:
        name = route_auth.get("Authorizer") or (self._http_api_properties(api_id).get("Auth") or {}).get("DefaultAuthorizer")
        if name is None or name == "NONE":
            return None
        return self._authorizer(api_id, name)


def _merge_globals(defaults: Any, local: Any) -> Any:
    """SAM's rule: maps merge, lists concatenate (globals first), scalars take the local value."""
    if isinstance(defaults, dict) and isinstance(local, dict):
        merged = dict(defaults)
        for key, value in local.items():
            merged[key] = _merge_globals(defaults[key], value) if key in defaults else value
        return merged
    if isinstance(defaults, list) and isinstance(local, list):
        return defaults + local
    return local


def _parameter_string(value: Any) -> str:
    """A parameter value as CloudFormation passes it: a string (a list comma-joined)."""
    if isinstance(value, list):
        return ",".join(_env_string(item) for item in value)
    return _env_string(value)


def _env_string(value: Any) -> str:
    """Lambda environment values are strings; YAML may have read numbers or booleans."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        raise LocalTemplateError(f"environment value {value!r} is not a string")
    return str(value)


def load_template(path: str | os.PathLike | None = None, *, stack_name: str = DEFAULT_STACK_NAME,
                  region: str | None = None, aws_endpoint: str | None = None,
                  parameters: dict[str, str] | None = None) -> Template:
    path = Path(path).resolve() if path else find_template()
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
    return Template(load_yaml(path), path, stack_name=stack_name, region=region,
                    aws_endpoint=aws_endpoint, parameters=parameters)
