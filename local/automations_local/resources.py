"""Creates in the emulated AWS what template.yaml declares, so the template stays the only
definition of every table, queue, schedule group and event bus (and makes its SES an account's
out of the sandbox). Safe to run again."""
from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.exceptions import ClientError

from automations_local.template import Resource, Template


# Error codes meaning "it is already there", per service.
_ALREADY_EXISTS = {"ResourceInUseException", "QueueAlreadyExists", "ConflictException",
                   "ResourceAlreadyExistsException"}

# SQS attributes passed through as declared (the API wants every value as a string).
_QUEUE_ATTRIBUTES = ("DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod",
                     "ReceiveMessageWaitTimeSeconds", "VisibilityTimeout", "FifoQueue",
                     "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit")


def create_resources(template: Template) -> None:
    _out_of_the_ses_sandbox()
    session = boto3.session.Session(region_name=template.region)
    dynamodb, sqs = session.client("dynamodb"), session.client("sqs")
    scheduler, events = session.client("scheduler"), session.client("events")
    for table in template.tables:
        definition = table_definition(table)
        if _created(dynamodb.create_table, **definition):
            ttl = table.properties.get("TimeToLiveSpecification")
            if ttl:
                dynamodb.update_time_to_live(TableName=table.name, TimeToLiveSpecification=ttl)
        else:
            add_missing_indexes(dynamodb, definition)
    # Dead-letter queues first: a redrive policy must name a queue that exists.
    for queue in sorted(template.queues, key=lambda q: "RedrivePolicy" in q.properties):
        _created(sqs.create_queue, QueueName=queue.name, Attributes=queue_attributes(queue))
    existing_groups = {g["Name"] for page in scheduler.get_paginator("list_schedule_groups").paginate()
                       for g in page["ScheduleGroups"]}
    for group in template.schedule_groups:
        if group.name not in existing_groups:  # moto replaces an existing group, emptying it
            _created(scheduler.create_schedule_group, Name=group.name)
    for bus in template.event_buses:
        _created(events.create_event_bus, Name=bus.name)
    for rule in template.resources_of("AWS::Events::Rule"):
        create_rule(events, rule)


LOCAL_SES_SEND_RATE = 1000.0


def _out_of_the_ses_sandbox() -> None:
    """moto's SES answers GetSendQuota as the sandbox does, 1 message a second; the product paces
    its mail at that rate (service/deliveries.py). The stack's account is out of the sandbox, and
    nothing is really sent here, so the local SES allows LOCAL_SES_SEND_RATE."""
    from moto.ses.models import SESBackend

    original = SESBackend.get_send_quota
    if getattr(original, "out_of_the_sandbox", False):
        return

    def get_send_quota(backend: Any) -> Any:
        quota = original(backend)
        quota.max_send_rate = LOCAL_SES_SEND_RATE
        return quota

    get_send_quota.out_of_the_sandbox = True
    SESBackend.get_send_quota = get_send_quota


# What moto's put_targets takes of a declared target (retry and dead-letter settings are AWS's business).
_TARGET_KEYS = ("Id", "Arn", "Input", "InputPath", "InputTransformer")


def create_rule(events, rule: Resource) -> None:
    """A declared AWS::Events::Rule with its targets (moto delivers put_events to SQS targets).
    put_rule and put_targets overwrite, so this is safe to run again."""
    properties = rule.properties
    bus = {"EventBusName": properties["EventBusName"]} if properties.get("EventBusName") else {}
    arguments = {"Name": rule.name, "State": properties.get("State", "ENABLED"), **bus}
    if "EventPattern" in properties:
        arguments["EventPattern"] = json.dumps(properties["EventPattern"])
    if "ScheduleExpression" in properties:
        arguments["ScheduleExpression"] = properties["ScheduleExpression"]
    events.put_rule(**arguments)
    targets = [{key: target[key] for key in _TARGET_KEYS if key in target} for target in properties.get("Targets", [])]
    if targets:
        events.put_targets(Rule=rule.name, Targets=targets, **bus)


def add_missing_indexes(dynamodb, definition: dict) -> None:
    """A table restored from an older state gets the global secondary indexes declared since."""
    described = dynamodb.describe_table(TableName=definition["TableName"])["Table"]
    present = {index["IndexName"] for index in described.get("GlobalSecondaryIndexes", [])}
    for index in definition.get("GlobalSecondaryIndexes", []):
        if index["IndexName"] not in present:
            dynamodb.update_table(TableName=definition["TableName"],
                                  AttributeDefinitions=definition["AttributeDefinitions"],
                                  GlobalSecondaryIndexUpdates=[{"Create": index}])


def table_definition(table: Resource) -> dict:
    """create_table arguments for a declared AWS::DynamoDB::Table (on demand: capacity means nothing locally)."""
    properties = table.properties
    definition = {
        "TableName": table.name,
        "KeySchema": properties["KeySchema"],
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "BillingMode": "PAY_PER_REQUEST",
    }
    for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if properties.get(kind):
            definition[kind] = [
                {key: index[key] for key in ("IndexName", "KeySchema", "Projection")}
                for index in properties[kind]
            ]
    stream = properties.get("StreamSpecification")
    if stream:
        definition["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    return definition


def queue_attributes(queue: Resource) -> dict[str, str]:
    properties = queue.properties
    attributes = {name: _attribute_string(properties[name]) for name in _QUEUE_ATTRIBUTES if name in properties}
    if "RedrivePolicy" in properties:
        attributes["RedrivePolicy"] = json.dumps(properties["RedrivePolicy"])
    return attributes


def _attribute_string(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _created(create, **arguments) -> bool:
    """Call a create API; False when the resource already existed."""
    try:
        create(**arguments)
    except ClientError as error:
        if error.response["Error"]["Code"] in _ALREADY_EXISTS:
            return False
        raise
    return True
