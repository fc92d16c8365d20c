"""Senders, one per channel, behind one interface: ``send(delivery) -> provider id``. Each makes
what it sends with (its AWS client, the TLS context) at its first send: a cold start that sends
through one channel, or none, pays for no other."""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import ssl
import functools
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from automations import clock, invocation
from automations.adapters import public_http
from automations.domain.delivery import Delivery, PermanentDeliveryError, Throttled, TransientDeliveryError
from automations.errors import THROTTLE_CODES, TRANSIENT_CODES, is_throttle, is_transient

SIGNATURE_HEADER = "X-Automations-Signature"
TIMESTAMP_HEADER = "X-Automations-Timestamp"
DELIVERY_HEADER = "X-Automations-Delivery"


def _classified(error: ClientError, refused: str) -> Exception:
    """A provider's refusal as a throttle, a transient (worth retrying) or a permanent delivery error."""
    code = error.response.get("Error", {}).get("Code", "")
    if is_throttle(error):
        return Throttled(code)
    if is_transient(error):
        return TransientDeliveryError(code)
    return PermanentDeliveryError(code or refused)


class SesEmailSender:
    def __init__(self, client: Callable[[], Any], sender: str) -> None:
        self._ses = client
        self._sender = sender

    def send(self, d: Delivery) -> str:
        body = {}
        if d.metadata.get("html"):
            body["Html"] = {"Data": d.metadata["html"], "Charset": "UTF-8"}
        if d.metadata.get("plain", True):  # an html-only template has no text part to send
            body["Text"] = {"Data": d.body, "Charset": "UTF-8"}
        try:
            answer = self._ses().send_email(
                FromEmailAddress=self._sender, Destination={"ToAddresses": [d.recipient]},
                Content={"Simple": {"Subject": {"Data": d.subject, "Charset": "UTF-8"}, "Body": body}})
        except ClientError as e:
            raise _classified(e, "SES refused the message") from None
        return answer["MessageId"]


def ses_send_rate(client) -> float:
    """The messages per second SES allows this account (1 in the sandbox, 14 and up after)."""
    return float(client.get_send_quota()["MaxSendRate"])


class SnsSmsSender:
    """A text message through SNS ``publish`` to the contact's E.164 number, transactional (the
    contact asked for this automation's messages). Only to the allowed country calling codes:
    SNS would text any number in the world, at that country's price (SMS pumping)."""

    def __init__(self, client: Callable[[], Any], allowed_country_codes: tuple[str, ...]) -> None:
        self._sns = client
        self._allowed = allowed_country_codes

    def send(self, d: Delivery) -> str:
        # Calling codes are prefix-free (ITU E.164), so a number's code is the one it starts with.
        if not any(d.recipient.startswith(f"+{code}") for code in self._allowed):
            raise PermanentDeliveryError(
                f"{d.recipient} is not in an allowed country: texts go only to country calling codes "
                f"{', '.join('+' + code for code in self._allowed) or '(none)'} (the SmsAllowedCountryCodes parameter)")
        try:
            answer = self._sns().publish(PhoneNumber=d.recipient, Message=d.body, MessageAttributes={
                "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}})
        except ClientError as e:
            raise _classified(e, "SNS refused the message") from None
        return answer["MessageId"]


EVENT_SOURCE = "automations.engine"


class EventBusSender:
    """An event on the product's EventBridge bus: detail-type is the delivery's recipient, the
    detail its JSON body. The host application's rules pick up what they need (credits, gift
    cards, "automation.run.succeeded")."""

    def __init__(self, client: Callable[[], Any], bus_name: str) -> None:
        self._events = client
        self._bus = bus_name

    def send(self, d: Delivery) -> str:
        try:
            answer = self._events().put_events(Entries=[{
                "Source": EVENT_SOURCE, "DetailType": d.recipient, "Detail": d.body, "EventBusName": self._bus,
                "Resources": [], "Time": clock.now()}])
        except ClientError as e:
            raise _classified(e, "EventBridge refused the event") from None
        entry = answer["Entries"][0]
        if "EventId" not in entry:
            error = (Throttled if entry.get("ErrorCode") in THROTTLE_CODES else
                     TransientDeliveryError if entry.get("ErrorCode") in TRANSIENT_CODES else PermanentDeliveryError)
            raise error(entry.get("ErrorCode") or "EventBridge refused the event")
        return entry["EventId"]


def sign(secret: str, timestamp: str, body: str) -> str:
    """HMAC-SHA256 over "<timestamp>.<body>", so a receiver can check origin and freshness."""
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()


class WebhookSender:
    """POSTs the rendered body to the webhook's URL, signed with its secret; retries transient
    failures with exponential backoff within one dispatch. The URL's host is resolved and
    checked once and only its public addresses are called (public_http.py), each in turn until
    one takes the connection (each attempt starting at the next); the local runtime, whose
    receivers live on loopback, lifts the check with AUTOMATIONS_LOCAL=1. The lookup, and each
    attempt from connecting to the answer's headers, takes at most ``timeout`` seconds, and never
    more than the invocation has left. A URL HTTP cannot carry fails for good at once."""

    def __init__(self, find_webhook: Callable[[str, str], dict | None], *, timeout: float = 5.0, attempts: int = 3,
                 backoff: float = 0.5, sleep: Callable[[float], None] = time.sleep,
                 resolve: public_http.Resolve = public_http.resolve_host,
                 permitted: Callable[[public_http.Address], bool] | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        self._find = find_webhook
        self._timeout = timeout
        self._attempts = attempts
        self._backoff = backoff
        self._sleep = sleep
        self._resolve = resolve
        self._permitted = permitted
        self._given_tls = tls

    @functools.cached_property
    def _tls(self) -> ssl.SSLContext:
        return self._given_tls or public_http.tls_context()

    def send(self, d: Delivery) -> str:
        webhook = self._find(d.account_id, d.recipient)
        if webhook is None:
            raise PermanentDeliveryError(f"webhook {d.recipient} not found")
        permitted = self._permitted or ((lambda ip: True) if os.environ.get("AUTOMATIONS_LOCAL") == "1"
                                        else public_http.is_public)
        try:
            target = public_http.check(webhook["url"], self._resolve, permitted, seconds=self._seconds())
        except public_http.Refused as e:
            raise PermanentDeliveryError(f"webhook refused: {e}") from None
        except public_http.Unreachable as e:
            raise TransientDeliveryError(f"webhook unreachable: {e}") from None
        try:
            json.loads(d.body)
            content_type = "application/json"
        except ValueError:
            content_type = "text/plain; charset=utf-8"
        for attempt in range(self._attempts):
            timestamp = str(int(clock.now().timestamp()))
            headers = {"Content-Type": content_type, "User-Agent": "automations-webhooks/1",
                       DELIVERY_HEADER: d.id, TIMESTAMP_HEADER: timestamp,
                       SIGNATURE_HEADER: sign(webhook["secret"], timestamp, d.body)}
            try:
                status, location = self._post(target, attempt, d.body.encode(), headers)
            except public_http.Unreachable as e:
                failure = f"webhook unreachable: {e}"
            else:
                if 200 <= status < 300:
                    return f"HTTP {status}"
                if 300 <= status < 400:
                    raise PermanentDeliveryError(f"webhook answered HTTP {status} (to {location}): redirects "
                                                 "are not followed, register the URL it redirects to")
                if status < 500 and status != 429:
                    raise PermanentDeliveryError(f"webhook answered HTTP {status}")
                failure = f"webhook answered HTTP {status}"
            if attempt < self._attempts - 1:
                self._sleep(self._backoff * 2 ** attempt)
        raise TransientDeliveryError(failure)

    def _seconds(self) -> float:
        """The time a lookup or an attempt may take: ``timeout``, or what the invocation has left."""
        left = invocation.seconds_left()
        return self._timeout if left is None else max(min(self._timeout, left), 0.0)

    def _post(self, target: public_http.Target, attempt: int, body: bytes, headers: dict[str, str]) -> tuple[int, str | None]:
        """One attempt: the checked addresses in turn, from the attempt's own (a retry starts at the
        next), until one takes the connection, all within the attempt's time."""
        deadline = time.monotonic() + self._seconds()
        count = len(target.addresses)
        for address in (target.addresses[(attempt + i) % count] for i in range(count)):
            try:
                return public_http.post(target, address, body, headers, seconds=deadline - time.monotonic(),
                                        tls=self._tls)
            except public_http.NotConnected as e:
                not_connected = e  # nothing was sent: the next address
        raise not_connected
