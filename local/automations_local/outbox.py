"""What the product sent, for tests and people: its delivery records (the outbox in the table:
mail, text messages, webhook calls and bus events) and what moto's SES and SNS accepted, so the
two can be checked against each other.

Local only: it Scans the table, which the product itself never does."""
from __future__ import annotations

from urllib.parse import parse_qs

from automations import config
from automations.adapters import aws
from automations.adapters.dynamo_deliveries import deliveries_partition, delivery_from_item
from automations.clock import iso_z
from automations.domain.delivery import Channel, Delivery
from automations_local.api_gateway import HttpRequest, HttpResponse, json_response
from automations_local.server import ControlEndpoints, ControlError
from automations_local.template import ACCOUNT_ID

endpoints = ControlEndpoints()


def deliveries(*, channel: str | None = None, account_id: str | None = None) -> list[dict]:
    """Every delivery record, newest first, optionally of one channel or account."""
    condition, values = "begins_with(SK, :delivery) AND attribute_exists(#data)", {":delivery": {"S": "DELIVERY#"}}
    if account_id is not None:
        condition += " AND begins_with(PK, :account)"
        values[":account"] = {"S": deliveries_partition(account_id)}
    pages = aws.client("dynamodb").get_paginator("scan").paginate(
        TableName=config.table_name(), FilterExpression=condition,
        ExpressionAttributeNames={"#data": "data"}, ExpressionAttributeValues=values)
    found = [delivery_from_item(item) for page in pages for item in page["Items"]]
    found = [d for d in found if channel is None or d.channel == channel]
    found.sort(key=lambda d: (d.created_at, d.id), reverse=True)
    return [_shown(d) for d in found]


def _shown(d: Delivery) -> dict:
    return {"id": d.id, "account_id": d.account_id, "run_id": d.run_id, "channel": d.channel.value,
            "recipient": d.recipient, "subject": d.subject, "body": d.body, "status": d.status.value,
            "provider_id": d.provider_id, "created_at": iso_z(d.created_at), "attempts": d.attempts,
            "error": d.error}


def ses_messages(region: str) -> list[dict]:
    """The mail moto's SES accepted in this process, newest first (raw and templated mail have
    no subject or body of their own: None)."""
    from moto.ses.models import ses_backends

    sent = list(ses_backends[ACCOUNT_ID][region].sent_messages)
    return [{"id": m.id, "source": m.source, "destinations": m.destinations,
             "subject": getattr(m, "subject", None), "body": getattr(m, "body", None)} for m in reversed(sent)]


def sns_text_messages(region: str) -> list[dict]:
    """The text messages moto's SNS accepted in this process, newest first."""
    from moto.sns.models import sns_backends

    sent = sns_backends[ACCOUNT_ID][region].sms_messages
    return [{"id": message_id, "phone_number": phone, "message": text}
            for message_id, (phone, text) in reversed(list(sent.items()))]


@endpoints.route("GET", "/_local/outbox")
def _outbox(runtime, request: HttpRequest) -> HttpResponse:
    """?channel=email|sms|webhook|event and ?account_id= narrow the deliveries."""
    query = parse_qs(request.raw_query, keep_blank_values=True)
    unknown = set(query) - {"channel", "account_id"}
    if unknown:
        raise ControlError(400, f"unknown parameter {sorted(unknown)[0]!r}: use channel and account_id")
    if any(len(values) > 1 or not values[0] for values in query.values()):
        raise ControlError(400, "give channel and account_id at most once each, not empty")
    channel = query.get("channel", [None])[0]
    if channel is not None and channel not in set(Channel):
        raise ControlError(400, f"channel must be one of {', '.join(Channel)}")
    return json_response(200, {"deliveries": deliveries(channel=channel, account_id=query.get("account_id", [None])[0]),
                               "ses_messages": ses_messages(runtime.template.region),
                               "sns_messages": sns_text_messages(runtime.template.region)})
