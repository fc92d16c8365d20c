"""The unit and handler tests' AWS (tests/support.py's mocked_aws): each test after a process's
first starts from a copy of what create_resources and the migrations made for it, not from new
ones; the copy must be that world exactly, and no test's changes may reach the next."""
import boto3
from support import ROOT, mocked_aws

from automations_local.template import load_template

_VARYING = ("CreationDateTimestamp", "CreatedTimestamp", "LastModifiedTimestamp", "CreationDateTime", "CreationDate", "LastModificationDate")


def world(template) -> dict:
    """Everything create_resources and the migrations make, as AWS describes it."""
    dynamodb, sqs = boto3.client("dynamodb"), boto3.client("sqs")
    scheduler, events = boto3.client("scheduler"), boto3.client("events")
    tables = {}
    for table in template.tables:
        described = dynamodb.describe_table(TableName=table.name)["Table"]
        tables[table.name] = {
            "described": {k: v for k, v in described.items() if k not in _VARYING},
            "ttl": dynamodb.describe_time_to_live(TableName=table.name)["TimeToLiveDescription"],
            "items": sorted(map(repr, dynamodb.scan(TableName=table.name)["Items"])),
        }
    queues = {url: {k: v for k, v in sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"].items()
                    if k not in _VARYING}
              for url in sqs.list_queues().get("QueueUrls", [])}
    groups = sorted(g["Name"] for g in scheduler.list_schedule_groups()["ScheduleGroups"])
    buses = {bus["Name"]: sorted(repr(rule) for rule in events.list_rules(EventBusName=bus["Name"])["Rules"])
             for bus in events.list_event_buses()["EventBuses"]}
    return {"tables": tables, "queues": queues, "groups": groups, "buses": buses}


def test_a_test_s_aws_is_the_world_create_resources_makes_and_nothing_a_test_before_it_did():
    with mocked_aws():
        pass  # the process has kept its copy (if no test before did)
    with mocked_aws() as template:  # from the copy
        restored = world(template)
        table = template.tables[0].name
        boto3.client("dynamodb").put_item(TableName=table, Item={"PK": {"S": "LEFT"}, "SK": {"S": "BEHIND"}})
        boto3.client("sqs").send_message(QueueUrl=next(iter(restored["queues"])), MessageBody="left behind")
    with mocked_aws() as template:
        assert world(template) == restored
    with mocked_aws(load_template(ROOT / "template.yaml")) as template:  # another template object: made anew
        made = world(template)
    assert restored == made
    assert restored["tables"] and restored["queues"] and restored["groups"] and restored["buses"]
