"""Deliveries: rendering, addressing, signed webhooks, SES, and sending exactly once."""
import hashlib
import hmac
import http.server
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest

from automations.adapters import public_http
from automations.adapters.channels import SesEmailSender, WebhookSender, sign
from automations.adapters.dynamo_deliveries import DynamoDeliveryStore
from automations.domain.account import Account
from automations.domain.delivery import (
    Channel, Delivery, DeliveryStatus, PermanentDeliveryError, TransientDeliveryError,
)
from automations.domain.evaluator import Notification
from automations.domain.model import SubjectKind
from automations.domain.run import Run, RunStatus
from automations.domain.ticket import Ticket
from automations.service.deliveries import MAX_ATTEMPTS, DeliveryService
from automations.service.rendering import render, syntax_error

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)
ACCOUNT = Account(id="acc_1", name="Acme", email="owner@acme.test", timezone="UTC", created_at=NOW)
TICKET = Ticket.create("acc_1", 42, NOW, subject="Printer on fire", status="solved", requester_id=7, assignee_id=8)
RUN = Run(account_id="acc_1", id="run_abc", automation_id=3, subject_kind=SubjectKind.TICKET, subject_id="42",
          occurrence="sweep:2026-11-22T09", status=RunStatus.SUCCEEDED, created_at=NOW, updated_at=NOW)
USERS = {7: {"id": 7, "name": "Rita Requester", "email": "rita@example.com"},
         8: {"id": 8, "name": "Alex Agent", "email": "alex@acme.test"}}


class Receiver:
    """A webhook receiver on loopback that answers with the statuses it is given, in order, each
    with ``headers``; ``tls`` (an SSLContext) makes it an HTTPS one."""

    def __init__(self, statuses, host="127.0.0.1", port=0, headers=None, tls=None):
        self.statuses, self.requests = list(statuses), []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                receiver.requests.append((dict(self.headers), body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((host, port), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.port = self.server.server_address[1]
        self.url = f"{'https' if tls else 'http'}://{host}:{self.port}/hook"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(monkeypatch):
    monkeypatch.setenv("AUTOMATIONS_LOCAL", "1")
    made = []

    def make(*statuses, **options):
        made.append(Receiver(statuses, **options))
        return made[-1]

    yield make
    for r in made:
        r.close()


def webhook_delivery(body='{"ticket": 42}', delivery_id="run_abc.0.0"):
    return Delivery(account_id="acc_1", id=delivery_id, run_id="run_abc", channel=Channel.WEBHOOK,
                    recipient="wh_1", subject="", body=body, created_at=NOW)


class TestRendering:
    def test_placeholders_and_missing_variables(self):
        context = {"ticket": {"id": 42, "title": "Printer on fire", "requester": {"email": "rita@example.com"}}}
        assert render("#{{ticket.id}} {{ticket.title}} for {{ticket.requester.email}}{{ticket.nope}}", context) \
            == "#42 Printer on fire for rita@example.com"

    def test_invalid_liquid_is_sent_as_written_and_reported_at_save_time(self):
        assert render("{% if %}broken", {}) == "{% if %}broken"
        assert syntax_error("{% if %}broken") and syntax_error("{{ ticket.id }}") is None

    def test_runaway_templates_are_bounded(self):
        assert render("{% for i in (1..100000000) %}x{% endfor %}", {}).startswith("{% for")


class TestPrepare:
    def service(self, store=None, groups=None):
        return DeliveryService(store, {}, lambda account, user: USERS.get(user),
                               lambda account, group: groups or [])

    def test_user_notifications_are_rendered_and_addressed(self):
        notes = (Notification("user", "requester_id", "Ticket {{ticket.id}}", "Hi {{ticket.requester.name}}"),
                 Notification("user", "assignee_id", "Solved: {{ticket.title}}", "{{ticket.status}}"),
                 Notification("user", "8", "Direct", "to a user id"),
                 Notification("user", "current_user", "nobody", "an automation has no current user"))
        prepared = self.service().prepare(ACCOUNT, TICKET, RUN, notes)
        assert [(d.id, d.recipient, d.subject, d.body) for d in prepared] == [
            ("run_abc.0.0", "rita@example.com", "Ticket 42", "Hi Rita Requester"),
            ("run_abc.1.0", "alex@acme.test", "Solved: Printer on fire", "solved"),
            ("run_abc.2.0", "alex@acme.test", "Direct", "to a user id"),
        ]
        assert all(d.channel is Channel.EMAIL and d.status is DeliveryStatus.PENDING for d in prepared)

    def test_group_members_each_get_one_email(self):
        members = [USERS[7], USERS[8], USERS[8], {"id": 9, "email": None}]
        prepared = self.service(groups=members).prepare(
            ACCOUNT, TICKET, RUN, (Notification("group", "5", "s", "b"),))
        assert [(d.id, d.recipient) for d in prepared] == [("run_abc.0.0", "rita@example.com"),
                                                           ("run_abc.0.1", "alex@acme.test")]

    def test_webhooks_keep_their_id_as_recipient(self):
        [d] = self.service().prepare(ACCOUNT, TICKET, RUN, (Notification("webhook", "wh_1", "", '{"id": {{ticket.id}}}'),))
        assert (d.channel, d.recipient, d.body) == (Channel.WEBHOOK, "wh_1", '{"id": 42}')


class TestWebhookSender:
    def test_signed_post(self, receiver):
        r = receiver(200)
        sender = WebhookSender(lambda account, hook: {"url": r.url, "secret": "s3cret"})
        assert sender.send(webhook_delivery()) == "HTTP 200"
        [(headers, body)] = r.requests
        assert body == '{"ticket": 42}' and headers["Content-Type"] == "application/json"
        assert headers["X-Automations-Delivery"] == "run_abc.0.0"
        expected = hmac.new(b"s3cret", f"{headers['X-Automations-Timestamp']}.{body}".encode(),
                            hashlib.sha256).hexdigest()
        assert headers["X-Automations-Signature"] == f"sha256={expected}"
        assert sign("s3cret", headers["X-Automations-Timestamp"], body) == headers["X-Automations-Signature"]

    def test_transient_failures_are_retried_with_backoff(self, receiver):
        r, waits = receiver(503, 500, 200), []
        sender = WebhookSender(lambda a, h: {"url": r.url, "secret": "k"}, sleep=waits.append)
        assert sender.send(webhook_delivery("plain text")) == "HTTP 200"
        assert len(r.requests) == 3 and waits == [0.5, 1.0]
        assert r.requests[0][0]["Content-Type"].startswith("text/plain")

    def test_giving_up_and_permanent_failures(self, receiver):
        always_down = receiver(502, 502, 502)
        sender = WebhookSender(lambda a, h: {"url": always_down.url, "secret": "k"}, sleep=lambda s: None)
        with pytest.raises(TransientDeliveryError):
            sender.send(webhook_delivery())
        refused = receiver(410)
        with pytest.raises(PermanentDeliveryError):
            WebhookSender(lambda a, h: {"url": refused.url, "secret": "k"}).send(webhook_delivery())
        assert len(refused.requests) == 1
        with pytest.raises(PermanentDeliveryError):
            WebhookSender(lambda a, h: None).send(webhook_delivery())

    def test_unreachable_times_out_as_transient(self, receiver):
        sender = WebhookSender(lambda a, h: {"url": "http://127.0.0.1:9/closed", "secret": "k"},
                               sleep=lambda s: None, timeout=0.5)
        with pytest.raises(TransientDeliveryError):
            sender.send(webhook_delivery())

    # Every form of a non-public address, as a URL's host or as what its name resolves to.
    REFUSED_HOSTS = ["127.0.0.1", "10.0.0.8", "172.16.5.4", "192.168.1.1", "169.254.169.254", "100.64.0.1",
                     "0.0.0.0", "224.0.0.1", "255.255.255.255", "[::1]", "[::]", "[fe80::1]", "[fc00::1]",
                     "[fd00:ec2::254]", "[ff02::1]", "[::ffff:127.0.0.1]", "[::ffff:8.8.8.8]", "[::ffff:a9fe:a9fe]",
                     "[::127.0.0.1]", "[64:ff9b::a9fe:a9fe]", "[64:ff9b::10.0.0.1]", "[2002:a9fe:a9fe::1]",
                     "[fe80::1%25eth0]", "2130706433", "0x7f000001", "0177.0.0.1", "127.1", "0x7f.0.0.1",
                     "017700000001", "127.0.0.1.", "134744072", "0x08.0x08.0x08.0x08", "localhost"]

    @pytest.mark.parametrize("host", REFUSED_HOSTS)
    def test_non_public_addresses_are_refused_outside_the_local_runtime(self, monkeypatch, host):
        monkeypatch.delenv("AUTOMATIONS_LOCAL", raising=False)
        with pytest.raises(PermanentDeliveryError, match="webhook refused"):
            WebhookSender(lambda a, h: {"url": f"http://{host}:8080/x", "secret": "k"}).send(webhook_delivery())

    @pytest.mark.parametrize("answer", [["169.254.169.254"], ["93.184.215.14", "10.1.2.3"], ["::ffff:10.0.0.1"],
                                        ["64:ff9b::7f00:1"], ["fd00:ec2::254"]])
    def test_a_name_resolving_to_any_non_public_address_is_refused(self, monkeypatch, answer):
        monkeypatch.delenv("AUTOMATIONS_LOCAL", raising=False)
        sender = WebhookSender(lambda a, h: {"url": "https://hooks.example.test/x", "secret": "k"},
                               resolve=lambda host, port: answer)
        with pytest.raises(PermanentDeliveryError, match="non-public address"):
            sender.send(webhook_delivery())

    @pytest.mark.parametrize("answer", [["93.184.215.14"], ["2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
                                        ["64:ff9b::5db8:d70e"]])
    def test_public_addresses_are_called(self, answer):
        target = public_http.check("https://hooks.example.test/x?a=1", lambda host, port: answer,
                                   public_http.is_public, seconds=5)
        assert (target.addresses, target.port, target.path) == (tuple(answer), 443, "/x?a=1")

    def test_a_redirect_is_not_followed(self, receiver):
        internal = receiver(200, host="127.0.0.2")  # stands for an address the check refuses
        r = receiver(302, headers={"Location": internal.url})
        sender = WebhookSender(lambda a, h: {"url": r.url, "secret": "k"},
                               permitted=lambda ip: str(ip) != "127.0.0.2")
        with pytest.raises(PermanentDeliveryError, match="redirects are not followed"):
            sender.send(webhook_delivery())
        assert len(r.requests) == 1 and internal.requests == []

    def test_the_address_checked_is_the_one_called(self, receiver):
        """A resolver that answers a permitted address first and a refused one after: the name
        is resolved once, and every attempt goes to the address that was checked."""
        checked = receiver(503, 200)
        internal = receiver(200, host="127.0.0.2", port=checked.port)
        answers = iter([["127.0.0.1"], ["127.0.0.2"], ["127.0.0.2"]])
        lookups = []
        sender = WebhookSender(lambda a, h: {"url": f"http://hooks.example.test:{checked.port}/hook", "secret": "k"},
                               resolve=lambda host, port: lookups.append(host) or next(answers),
                               permitted=lambda ip: str(ip) != "127.0.0.2", sleep=lambda s: None)
        assert sender.send(webhook_delivery()) == "HTTP 200"
        assert lookups == ["hooks.example.test"] and len(checked.requests) == 2 and internal.requests == []
        assert checked.requests[0][0]["Host"] == f"hooks.example.test:{checked.port}"

    def test_https_is_called_at_the_checked_address_for_the_name(self, receiver, tmp_path):
        cafile, server_tls = self_signed("hooks.example.test", tmp_path)
        r = receiver(200, tls=server_tls)
        url = f"https://hooks.example.test:{r.port}/hook"
        sender = WebhookSender(lambda a, h: {"url": url, "secret": "k"}, resolve=lambda host, port: ["127.0.0.1"],
                               tls=public_http.tls_context(str(cafile)))
        assert sender.send(webhook_delivery()) == "HTTP 200"
        assert r.requests[0][0]["Host"] == f"hooks.example.test:{r.port}"
        other = WebhookSender(lambda a, h: {"url": url.replace("hooks.", "other."), "secret": "k"},
                              resolve=lambda host, port: ["127.0.0.1"], tls=public_http.tls_context(str(cafile)),
                              attempts=1)
        with pytest.raises(TransientDeliveryError, match="certificate"):
            other.send(webhook_delivery())  # the certificate is checked against the name, not the address

    @pytest.mark.parametrize("url", ["http://hooks.example.test:9/a b", "http://hooks.example.test:9/a\x00b",
                                     "http://hooks.example.test:9/x\r\nX-Injected: 1", "http://hooks.example.test:9/?q=a b",
                                     "http://hooks example.test:9/x", "http://hooks.example.test\x7f:9/x",
                                     "http://[::1:9/x", "http://hooks.example.test:99999/x"])
    def test_a_url_http_cannot_send_fails_for_good_at_once(self, url):
        """http.client refuses to send such a URL (InvalidURL): no retry could ever send it."""
        waits = []
        sender = WebhookSender(lambda a, h: {"url": url, "secret": "k"}, resolve=lambda host, port: ["127.0.0.1"],
                               permitted=lambda ip: True, sleep=waits.append)
        with pytest.raises(PermanentDeliveryError, match="webhook refused: not a usable URL"):
            sender.send(webhook_delivery())
        assert waits == []

    def test_each_checked_address_is_tried_in_turn_until_one_takes_the_call(self, receiver):
        """A name whose first address takes no connection (an IPv6 one, from a Lambda function with
        no IPv6 way out): the same attempt goes on to the next address at once."""
        r = receiver(200)
        waits = []
        sender = WebhookSender(lambda a, h: {"url": f"http://hooks.example.test:{r.port}/hook", "secret": "k"},
                               resolve=lambda host, port: ["127.0.0.3", "127.0.0.1"], sleep=waits.append, attempts=1)
        assert sender.send(webhook_delivery()) == "HTTP 200"
        assert len(r.requests) == 1 and waits == []

    def test_a_name_that_does_not_resolve_gets_only_the_time_the_invocation_has_left(self):
        """getaddrinfo has no timeout of its own: a resolver that never answers may not hold the
        run past its invocation (0.3 s left here, though a call may take 20), nor, outside one,
        past the call's timeout."""
        from automations import telemetry

        release = threading.Event()

        def stuck(host, port):
            release.wait(15)
            return ["127.0.0.1"]

        class Context:
            function_name, aws_request_id = "run-executor", "req-1"

            def get_remaining_time_in_millis(self):
                return 300

        waits = []
        sender = WebhookSender(lambda a, h: {"url": "http://hooks.example.test:9/x", "secret": "k"}, resolve=stuck,
                               permitted=lambda ip: True, timeout=20, sleep=waits.append)
        in_lambda = telemetry.lambda_handler(lambda event, context: sender.send(webhook_delivery()))
        try:
            started = time.monotonic()
            with pytest.raises(TransientDeliveryError, match="no DNS answer for hooks.example.test within 0.3 s"):
                in_lambda({}, Context())
            assert time.monotonic() - started < 10
            outside = WebhookSender(lambda a, h: {"url": "http://hooks.example.test:9/x", "secret": "k"}, resolve=stuck,
                                    permitted=lambda ip: True, timeout=0.5)
            with pytest.raises(TransientDeliveryError, match="no DNS answer for hooks.example.test within 0.5 s"):
                outside.send(webhook_delivery())
            assert time.monotonic() - started < 10
        finally:
            release.set()

    def test_one_call_is_bounded_as_a_whole(self, receiver):
        """A receiver that sends its answer a byte at a time, each well within the timeout, is cut
        off when the call's whole time is up."""
        with Dribbler() as dribbler:
            sender = WebhookSender(lambda a, h: {"url": dribbler.url, "secret": "k"}, timeout=0.5, attempts=1)
            started = time.monotonic()
            with pytest.raises(TransientDeliveryError, match="no answer within 0.5 s"):
                sender.send(webhook_delivery())
            assert time.monotonic() - started < 5  # the receiver would go on for 30 s


def self_signed(name, directory):
    """A certificate for ``name`` signed by itself: (its file, as a CA to trust; a server context)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(datetime(2020, 1, 1))
            .not_valid_after(datetime(2099, 1, 1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    certfile, keyfile = directory / "cert.pem", directory / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(certfile, keyfile)
    return certfile, server


class Dribbler:
    """A receiver on loopback that reads the request, then answers one byte every 50 ms for 30 s."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/hook"
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        connection, _ = self.listener.accept()
        with connection:
            connection.recv(65536)
            answer = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"x" * 600
            for byte in answer:
                if self.stop.wait(0.05):
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.listener.close()


class FlakySender:
    def __init__(self, failures=0, error=TransientDeliveryError):
        self.failures, self.error, self.sent = failures, error, []
        self.lock = threading.Lock()

    def send(self, d):
        with self.lock:
            if self.failures:
                self.failures -= 1
                raise self.error("flaky")
            self.sent.append(d.id)
            return f"msg-{len(self.sent)}"


def stored(aws, deliveries):
    import boto3

    store = DynamoDeliveryStore(boto3.client("dynamodb"), aws.physical_name("Table"))
    boto3.client("dynamodb").transact_write_items(TransactItems=[store.new_delivery_put(d) for d in deliveries])
    return store


class TestDispatch:
    def test_concurrent_dispatch_sends_once(self, aws):
        d = webhook_delivery()
        store, sender = stored(aws, [d]), FlakySender()
        service = DeliveryService(store, {Channel.WEBHOOK: sender}, None, None)
        with ThreadPoolExecutor(max_workers=6) as pool:
            counts = list(pool.map(lambda _: service.dispatch([d]), range(6)))
        assert sum(counts) == 1 and sender.sent == [d.id]
        done = store.get("acc_1", d.id)
        assert done.status is DeliveryStatus.SENT and done.provider_id == "msg-1" and done.attempts == 1
        assert service.dispatch([d]) == 0 and store.unfinished() == []

    def test_transient_failure_is_relayed_later_then_given_up(self, aws):
        d = webhook_delivery()
        store, sender = stored(aws, [d]), FlakySender(failures=1)
        service = DeliveryService(store, {Channel.WEBHOOK: sender}, None, None)
        assert service.dispatch([d]) == 0
        assert store.get("acc_1", d.id).status is DeliveryStatus.PENDING
        assert [u.id for u in store.unfinished()] == [d.id]
        assert service.relay() == 1 and sender.sent == [d.id]

        stuck = webhook_delivery(delivery_id="run_abc.1.0")
        store = stored(aws, [stuck])
        service = DeliveryService(store, {Channel.WEBHOOK: FlakySender(failures=99)}, None, None)
        for _ in range(MAX_ATTEMPTS):
            service.relay()
        final = store.get("acc_1", stuck.id)
        assert final.status is DeliveryStatus.FAILED and final.error.startswith("gave up")
        assert store.unfinished() == []

    def test_the_relay_drains_more_than_a_page_at_the_providers_rate_until_its_time_is_spent(self, aws):
        pending = [webhook_delivery(delivery_id=f"run_abc.{n}.0") for n in range(150)]
        store = stored(aws, pending[:100])
        stored(aws, pending[100:])
        now, pauses = [0.0], []

        def pause(seconds):
            pauses.append(seconds)
            now[0] += seconds

        sender = FlakySender()
        service = DeliveryService(store, {Channel.WEBHOOK: sender}, None, None,
                                  send_rates={Channel.WEBHOOK: lambda: 4.0}, monotonic=lambda: now[0], pause=pause)
        assert service.relay(seconds=10) == 40  # 4 a second for 10 s, not one page an hour
        assert pauses == [0.25] * 39 and len(set(sender.sent)) == 40
        assert service.relay(seconds=60) == 110 and len(set(sender.sent)) == 150
        assert store.unfinished() == []

    def test_a_throttled_send_ends_the_relay_and_nothing_is_lost_or_sent_twice(self, aws):
        pending = [webhook_delivery(delivery_id=f"run_abc.{n}.0") for n in range(5)]
        store = stored(aws, pending)

        class Throttled(FlakySender):
            def send(self, d):
                if len(self.sent) == 2 and not getattr(self, "throttled", False):
                    self.throttled = True
                    raise TransientDeliveryError("Throttling")
                return super().send(d)

        sender = Throttled()
        service = DeliveryService(store, {Channel.WEBHOOK: sender}, None, None)
        assert service.relay() == 2  # the provider said slow down: the rest waits for the next relay
        assert len(store.unfinished()) == 3
        assert service.relay() == 3
        assert sorted(sender.sent) == sorted(d.id for d in pending) and store.unfinished() == []

    def test_permanent_failure_is_recorded(self, aws):
        d = webhook_delivery()
        store = stored(aws, [d])
        DeliveryService(store, {Channel.WEBHOOK: FlakySender(1, PermanentDeliveryError)}, None, None).dispatch([d])
        assert store.get("acc_1", d.id).status is DeliveryStatus.FAILED

    def test_a_delivery_is_stored_once(self, aws):
        from botocore.exceptions import ClientError

        d = webhook_delivery()
        stored(aws, [d])
        with pytest.raises(ClientError):
            stored(aws, [d])


def test_ses_email(aws):
    import boto3

    boto3.client("ses").verify_email_identity(EmailAddress="automations@example.com")
    sender = SesEmailSender(lambda: boto3.client("sesv2"), "automations@example.com")
    d = Delivery(account_id="acc_1", id="run_abc.0.0", run_id="run_abc", channel=Channel.EMAIL,
                 recipient="rita@example.com", subject="Ticket 42", body="Solved", created_at=NOW)
    message_id = sender.send(d)
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    [sent] = [m for m in ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages if m.id == message_id]
    assert sent.destinations["ToAddresses"] == ["rita@example.com"] and sent.subject == "Ticket 42"
    with pytest.raises(PermanentDeliveryError):
        SesEmailSender(lambda: boto3.client("sesv2"), "unverified@example.com").send(d)


def test_the_relay_goes_on_past_deliveries_that_cannot_be_sent_or_read(aws, caplog):
    import boto3

    from automations.adapters.channels import SnsSmsSender

    texts = [Delivery(account_id="acc_1", id=f"run_abc.{n}.0", run_id="run_abc", channel=Channel.SMS,
                      recipient=f"+3161234567{n}", subject="", body="Broken \ud83d" if n == 1 else f"Text {n}",
                      created_at=NOW) for n in range(4)]
    store = stored(aws, texts)
    # a delivery stored by hand (or by an older version) that cannot be read back, first in the outbox
    from automations.adapters.dynamo_deliveries import DynamoDeliveryStore, outbox_key
    from automations.adapters.shards import DUE_SHARDS, shard_of

    boto3.client("dynamodb").put_item(TableName=aws.physical_name("Table"), Item={
        **DynamoDeliveryStore.key("acc_1", "run_old.0.0"), "data": {"S": "{not json"},
        "status": {"S": "pending"}, "attempts": {"N": "0"},
        "DUE_PK": {"S": outbox_key(shard_of("run_old.0.0", DUE_SHARDS))}, "DUE_SK": {"S": "0#run_old.0.0"}})
    service = DeliveryService(store, {Channel.SMS: SnsSmsSender(lambda: boto3.client("sns"), ("31",))}, None, None)
    assert service.relay() == 3
    after = {d.id: store.get("acc_1", d.id) for d in texts}
    assert [d.status for d in after.values()] == [DeliveryStatus.SENT, DeliveryStatus.FAILED,
                                                   DeliveryStatus.SENT, DeliveryStatus.SENT]
    assert after["run_abc.1.0"].error.startswith("could not be sent: UnicodeEncodeError")
    assert store.unfinished() == [] and service.relay() == 0  # nothing left to block the next relay
    assert any("run_abc.1.0" in r.getMessage() and "acc_1" in r.getMessage() for r in caplog.records)
    assert any("run_old.0.0" in r.getMessage() for r in caplog.records)


def test_a_sender_that_stopped_mid_send_never_blocks_the_relay(aws, monkeypatch):
    from datetime import timedelta

    from automations import clock
    from automations.service import deliveries
    from automations.service.deliveries import SEND_TIMEOUT

    monkeypatch.setattr(deliveries, "RELAY_PAGE", 1)  # the stopped one alone fills the relay's page
    moving, previous = clock.MovableClock(NOW, frozen=True), clock.get_clock()
    clock.set_clock(moving)
    try:
        first, *behind = [webhook_delivery(delivery_id=f"run_abc.{n}.0") for n in range(3)]
        store, sender = stored(aws, [first, *behind]), FlakySender()
        service = DeliveryService(store, {Channel.WEBHOOK: sender}, None, None)
        store.claim(first)  # the sender took it, handed it to the provider, and the process died
        assert service.relay() == 0 and store.get("acc_1", first.id).status is DeliveryStatus.SENDING
        moving.advance((SEND_TIMEOUT + timedelta(seconds=1)).total_seconds())
        assert service.relay() == 0  # no sender is still at it: recorded, not sent again
        stopped = store.get("acc_1", first.id)
        assert stopped.status is DeliveryStatus.UNCONFIRMED and "not sent again" in stopped.error
        assert service.relay() == 2 and sender.sent == [d.id for d in behind]
        assert store.unfinished() == []
    finally:
        clock.set_clock(previous)


def test_a_delivery_stored_claimed_waits_in_the_outbox_only_once_given_back(aws):
    """A run attempt's first delivery, stored claimed, is its run's to settle: it never enters
    the outbox (two write units a run). Given back as pending (a throttle, a transient failure),
    it is there for the relay, as one claimed from pending is."""
    from dataclasses import replace

    first, second = webhook_delivery(), webhook_delivery(delivery_id="run_abc.1.0")
    store = stored(aws, [replace(first, status=DeliveryStatus.SENDING, claimed_at=NOW, attempts=1)])
    store.put_new(second)
    assert [d.id for d in store.unfinished()] == [second.id]
    store.release(store.get("acc_1", first.id), "throttled: slow down", attempted=False)
    store.release(store.claim(second), "HTTP 503")
    assert sorted((d.id, d.status, d.attempts) for d in store.unfinished()) == [
        (first.id, DeliveryStatus.PENDING, 0), (second.id, DeliveryStatus.PENDING, 1)]
    store.finish(store.claim(first), DeliveryStatus.SENT, provider_id="p1")
    assert [d.id for d in store.unfinished()] == [second.id]


def test_texts_are_relayed_at_the_rate_the_stack_gives_sms(aws, monkeypatch):
    """SNS has no API that tells its SMS quota: the stack's SmsSendRate paces the relay's texts."""
    from automations import bootstrap

    monkeypatch.setenv("SMS_SEND_RATE", "5")
    bootstrap.reset()
    try:
        rates = bootstrap.services().deliveries._send_rates
        assert rates[Channel.SMS]() == 5.0 and Channel.EMAIL in rates
    finally:
        bootstrap.reset()


def test_the_relay_sends_an_announcement_only_for_a_run_recorded_as_succeeded(aws):
    """Announcements among other deliveries: one of a succeeded run goes out; one of a running run
    waits, pending; those of a skipped, a missing and an unreadable run are skipped, each alone,
    and the relay goes on past them to the rest."""
    from automations.domain.delivery import announcement_id
    from automations.domain.model import SubjectKind
    from automations.domain.run import Run, RunStatus
    from automations.store_refusals import UnreadableRecord

    def run(run_id, status):
        return Run(account_id="acc_1", id=run_id, automation_id=1, subject_kind=SubjectKind.CONTACT, subject_id="c",
                   occurrence="o", status=status, created_at=NOW, updated_at=NOW)

    runs = {"run_ok": run("run_ok", RunStatus.SUCCEEDED), "run_busy": run("run_busy", RunStatus.RUNNING),
            "run_skipped": run("run_skipped", RunStatus.SKIPPED)}

    class Runs:
        def get(self, account_id, run_id):
            if run_id == "run_bad":
                raise UnreadableRecord("the stored run run_bad cannot be read: not JSON")
            return runs.get(run_id)

    def announcement(run_id):
        return Delivery(account_id="acc_1", id=announcement_id(run_id), run_id=run_id, channel=Channel.WEBHOOK,
                        recipient="wh_1", subject="", body="{}", created_at=NOW)

    ids = ["run_bad", "run_gone", "run_skipped", "run_busy", "run_ok"]
    store, sender = stored(aws, [announcement(i) for i in ids] + [webhook_delivery()]), FlakySender()
    service = DeliveryService(store, {Channel.WEBHOOK: sender}, None, None, runs=Runs())
    assert service.relay() == 2
    assert sorted(sender.sent) == sorted([announcement_id("run_ok"), webhook_delivery().id])
    after = {i: store.get("acc_1", announcement_id(i)) for i in ids}
    assert after["run_busy"].status is DeliveryStatus.PENDING  # waits for its run's outcome
    assert {i: (d.status, d.error) for i, d in after.items() if i not in ("run_ok", "run_busy")} == {
        "run_bad": (DeliveryStatus.SKIPPED, "not announced: the stored run run_bad cannot be read: not JSON"),
        "run_gone": (DeliveryStatus.SKIPPED, "not announced: the run does not exist"),
        "run_skipped": (DeliveryStatus.SKIPPED, "not announced: the run ended skipped")}
    assert service.relay() == 0 and len(sender.sent) == 2  # nothing twice
