"""Every AWS request checked against its service's API model, for what botocore does not check
but AWS does: string patterns, lengths and value ranges (``min``/``max``) and enums, through
every structure, list and map of the request; and the payload limits AWS documents apart from
the model (``payload_problems``). moto accepts such calls; AWS refuses them.

Installed as a botocore event handler on every session created after ``install()`` (tests
install it for every layer; the local runtime does when AUTOMATIONS_CHECK_AWS_MODEL=1). A request
that breaks its model raises botocore's ParamValidationError before it is sent, as botocore does
for the constraints it checks, and is recorded, so a test that swallowed the error still fails."""
from __future__ import annotations

import logging
import os
import re
import threading

from automations_local import LOGGER_NAME

log = logging.getLogger(LOGGER_NAME)

ENV_FLAG = "AUTOMATIONS_CHECK_AWS_MODEL"
EVENT = "before-parameter-build.*.*"  # after botocore's own handlers filled idempotency tokens

_patterns: dict[str, re.Pattern | None] = {}


class Findings:
    """What a check found, kept until a test takes it (thread-safe: the runtime's drivers call AWS too)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._found: list[str] = []

    def add(self, lines: list[str]) -> None:
        with self._lock:
            self._found.extend(lines)

    def take(self) -> list[str]:
        """Everything found so far, forgetting it."""
        with self._lock:
            taken, self._found = self._found, []
            return taken


def register_on_every_session(event: str, handler) -> None:
    """``handler`` for ``event`` on every botocore session created from now on (idempotent):
    botocore registers its built-in handlers on each new session."""
    from botocore import handlers

    if (event, handler) not in handlers.BUILTIN_HANDLERS:
        handlers.BUILTIN_HANDLERS.append((event, handler))


violations = Findings()


def enabled() -> bool:
    return os.environ.get(ENV_FLAG) == "1"


def install() -> None:
    """Check every request of every botocore session created from now on (idempotent)."""
    register_on_every_session(EVENT, check_request)


def check_request(params: dict, model, **_) -> None:
    """The botocore handler: ``model`` is the operation's model."""
    operation = f"{model.service_model.service_name}.{model.name}"
    problems = validate(model.input_shape, params) if model.input_shape is not None else []
    problems += payload_problems(operation, params)
    if not problems:
        return
    from botocore.exceptions import ParamValidationError

    report = "\n".join(f"{operation}: {problem}" for problem in problems)
    violations.add(report.splitlines())
    log.error("AWS would refuse this request (its API model):\n%s", report)
    raise ParamValidationError(report=report)


PAYLOAD_LIMIT = 256 * 1024  # bytes: an SQS message or batch, a PutEvents request, a schedule's input


def payload_problems(operation: str, params: dict) -> list[str]:
    """The 256 KB payload limits (reference/aws.md) that are not in the API model. moto's SQS
    takes 1 MiB, and nothing local limits a batch, a PutEvents request or a schedule's input."""
    if operation == "sqs.SendMessage":
        where, size = "MessageBody", _bytes(params.get("MessageBody"))
    elif operation == "sqs.SendMessageBatch":
        where, size = "Entries (their bodies together)", sum(_bytes(e.get("MessageBody")) for e in params.get("Entries", []))
    elif operation == "events.PutEvents":
        where, size = "Entries (together)", sum(_event_bytes(e) for e in params.get("Entries", []))
    elif operation in ("scheduler.CreateSchedule", "scheduler.UpdateSchedule"):
        where, size = "Target.Input", _bytes((params.get("Target") or {}).get("Input"))
    else:
        return []
    return [f"{where}: {size} bytes, more than the {PAYLOAD_LIMIT // 1024} KB AWS takes"] if size > PAYLOAD_LIMIT else []


def _bytes(text) -> int:
    return len(text.encode()) if isinstance(text, str) else 0


def _event_bytes(entry: dict) -> int:
    """An entry's size as EventBridge counts it: 14 bytes for the time, and the UTF-8 bytes of
    its source, detail type, detail and resources."""
    return (14 + sum(_bytes(entry.get(name)) for name in ("Source", "DetailType", "Detail"))
            + sum(_bytes(resource) for resource in entry.get("Resources") or []))


def validate(shape, value, path: str = "") -> list[str]:
    """The model constraints ``value`` breaks, each as "<path>: <what>"."""
    where = path or "(input)"
    problems = []
    metadata = shape.metadata
    kind = shape.type_name
    if kind == "structure":
        if isinstance(value, dict) and not metadata.get("document"):
            for name, member in value.items():
                if name in shape.members:
                    problems += validate(shape.members[name], member, f"{path}.{name}" if path else name)
        return problems
    if kind == "list" and isinstance(value, (list, tuple)):
        problems += _length(where, len(value), metadata, "items")
        for index, item in enumerate(value):
            problems += validate(shape.member, item, f"{path}[{index}]")
        return problems
    if kind == "map" and isinstance(value, dict):
        problems += _length(where, len(value), metadata, "entries")
        for key, item in value.items():
            problems += validate(shape.key, key, f"{path} key {key!r}")
            problems += validate(shape.value, item, f"{path}[{key!r}]")
        return problems
    if kind == "string" and isinstance(value, str):
        problems += _length(where, len(value), metadata, "characters")
        if shape.enum and value not in shape.enum:
            problems.append(f"{where}: {_show(value)} is not one of {shape.enum}")
        pattern = _pattern(metadata.get("pattern"))
        if pattern is not None and not pattern.fullmatch(value):
            problems.append(f"{where}: {_show(value)} does not match the pattern {pattern.pattern}")
        return problems
    if kind == "blob" and isinstance(value, (bytes, bytearray, str)):
        return _length(where, len(value), metadata, "bytes")
    if kind in ("integer", "long", "float", "double") and isinstance(value, (int, float)):
        if "min" in metadata and value < metadata["min"]:
            problems.append(f"{where}: {value} is below the minimum {metadata['min']}")
        if "max" in metadata and value > metadata["max"]:
            problems.append(f"{where}: {value} is above the maximum {metadata['max']}")
    return problems


def _length(where: str, length: int, metadata: dict, unit: str) -> list[str]:
    if "min" in metadata and length < metadata["min"]:
        return [f"{where}: {length} {unit}, fewer than the minimum {metadata['min']}"]
    if "max" in metadata and length > metadata["max"]:
        return [f"{where}: {length} {unit}, more than the maximum {metadata['max']}"]
    return []


def _pattern(text: str | None) -> re.Pattern | None:
    """The model's pattern, matched against the whole value as AWS services match it (the
    model's ``[a-zA-Z0-9-_]+`` refuses "a.b"); None when Python cannot compile it (Java-only
    syntax such as \\p{...}): those are logged once and not checked."""
    if text is None:
        return None
    if text not in _patterns:
        try:
            _patterns[text] = re.compile(text, re.DOTALL)
        except re.error as error:
            log.warning("API model pattern %r not checked: %s", text, error)
            _patterns[text] = None
    return _patterns[text]


def _show(value: str) -> str:
    return repr(value if len(value) <= 80 else value[:77] + "...")


# --- keys that a delivering service cannot use ----------------------------------------------------

# Who delivers, as itself (a service principal, not a role of ours), to a queue or topic that a
# template names: CloudWatch an alarm's actions, EventBridge a rule's targets and dead letters,
# Scheduler a schedule's dead letters, SNS a subscribed queue. A Lambda destination is sent with
# the function's own role, which an AWS-managed key lets in, so it is not listed.
_DELIVERIES = {
    "AWS::CloudWatch::Alarm": ("cloudwatch.amazonaws.com", ("AlarmActions", "OKActions", "InsufficientDataActions")),
    "AWS::Events::Rule": ("events.amazonaws.com", ("Targets[].Arn", "Targets[].DeadLetterConfig.Arn")),
    "AWS::Scheduler::Schedule": ("scheduler.amazonaws.com", ("Target.DeadLetterConfig.Arn",)),
    "AWS::SNS::Subscription": ("sns.amazonaws.com", ("Endpoint",)),
}
# SAM function events that become such deliveries.
_EVENT_DELIVERIES = {
    "ScheduleV2": ("scheduler.amazonaws.com", ("DeadLetterConfig.Arn",)),
    "Schedule": ("events.amazonaws.com", ("DeadLetterConfig.Arn",)),
    "EventBridgeRule": ("events.amazonaws.com", ("DeadLetterConfig.Arn",)),
}
KEY_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")  # what a service needs to send to an encrypted queue or topic


def delivery_key_problems(template) -> list[str]:
    """Each delivery by an AWS service to a queue or topic encrypted with a KMS key that service
    may not use: an AWS-managed key (``alias/aws/sns``, ``alias/aws/sqs``: their policies let in
    only principals of the account), or a key of the template whose key policy does not allow the
    service ``kms:GenerateDataKey`` and ``kms:Decrypt`` for this account. moto checks neither."""
    from automations_local.iam_coverage import Request, Statement

    destinations, keys = {}, {}
    for stack in template.stacks():
        for resource in stack.own_resources():
            if resource.type in ("AWS::SQS::Queue", "AWS::SNS::Topic"):
                destinations[stack.arn(resource.logical_id)] = (stack, resource)
            elif resource.type == "AWS::KMS::Key":
                key = (resource, stack.get_att(resource.logical_id, "Arn"))
                keys[stack.ref(resource.logical_id)] = keys[key[1]] = key
    problems = []
    for where, service, arn in _deliveries(template):
        if arn not in destinations:
            continue  # not a queue or topic of the template
        _, destination = destinations[arn]
        key = destination.properties.get("KmsMasterKeyId")
        if not key:
            continue  # unencrypted, or SQS-managed encryption (no KMS key)
        target = f"{where} delivers ({service}) to {destination.logical_id}"
        if str(key).startswith("alias/aws/") or ":alias/aws/" in str(key):
            problems.append(f"{target}, encrypted with the AWS-managed key {key}, which {service} cannot use: "
                            "give it a customer-managed key whose policy allows the service")
            continue
        if key not in keys:
            continue  # a key of another template or account: not checked here
        key_resource, key_arn = keys[key]
        statements = [Statement(key_resource.logical_id, index, statement) for index, statement
                      in enumerate(_as_list(key_resource.properties.get("KeyPolicy", {}).get("Statement")))
                      if _names_service(statement.get("Principal"), service)]
        for action in KEY_ACTIONS:
            request = Request("kms", action, key_arn, (("aws:SourceAccount", _account(arn)),))
            decided = [s for s in statements if s.matches(request)]
            if not any(s.effect == "Allow" for s in decided) or any(s.effect == "Deny" for s in decided):
                problems.append(f"{target}, whose key {key_resource.logical_id} does not allow {service} {action}")
    return problems


def _deliveries(template):
    """(where, service, destination ARN) of each delivery a service makes for the template."""
    for stack in template.stacks():
        for resource in stack.own_resources():
            if resource.type in _DELIVERIES:
                service, paths = _DELIVERIES[resource.type]
                for path in paths:
                    for arn in _at(resource.properties, path):
                        yield f"{resource.logical_id}.{path}", service, arn
        for function in stack.own_functions():
            for event in function.events:
                if event.type in _EVENT_DELIVERIES:
                    service, paths = _EVENT_DELIVERIES[event.type]
                    for path in paths:
                        for arn in _at(event.properties, path):
                            yield f"{function.logical_id}.{event.name}.{path}", service, arn


def _at(value, path: str) -> list:
    """The values at ``path`` ("Targets[].Arn": each target's Arn) in resolved properties."""
    values = [value]
    for part in path.split("."):
        many = part.endswith("[]")
        values = [v.get(part.removesuffix("[]")) for v in values if isinstance(v, dict)]
        values = [item for v in values for item in (_as_list(v) if many or isinstance(v, list) else [v])]
    return [v for v in values if isinstance(v, str)]


def _names_service(principal, service: str) -> bool:
    """A key policy statement's Principal covers the service ("*" covers everyone)."""
    if principal == "*":
        return True
    return isinstance(principal, dict) and (principal.get("AWS") == "*" or service in _as_list(principal.get("Service")))


def _as_list(value) -> list:
    return [] if value is None else list(value) if isinstance(value, (list, tuple)) else [value]


def _account(arn: str) -> str:
    return arn.split(":")[4] if arn.count(":") >= 5 else ""
