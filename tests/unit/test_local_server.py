"""The local runtime's HTTP server: a listen backlog for many concurrent clients, and an access
log a person reads."""
from __future__ import annotations

import logging
import re
import socket
import threading

import requests

from automations_local import LOGGER_NAME
from automations_local.api_gateway import HttpResponse
from automations_local.server import LocalHttpServer

CLIENTS = 100


def test_connections_wait_in_the_backlog_while_the_server_is_busy():
    """A server that has not accepted yet (all its threads busy) still completes every client's
    connection: the kernel queues up to the listen backlog, and drops the rest (default: 5)."""
    server = LocalHttpServer(("127.0.0.1", 0), lambda request: HttpResponse(200))
    clients = []
    try:
        for _ in range(CLIENTS):
            client = socket.socket()
            client.settimeout(0.5)
            clients.append(client)
            client.connect(server.server_address)  # times out once the backlog is full
    finally:
        for client in clients:
            client.close()
        server.server_close()
    assert len(clients) == CLIENTS


def test_the_access_log_is_one_readable_line_a_request(caplog):
    server = LocalHttpServer(("127.0.0.1", 0), lambda request: HttpResponse(404 if "missing" in request.raw_path else 200))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
            base = f"http://127.0.0.1:{server.server_address[1]}"
            requests.get(base + "/api/v2/tickets.json?page=2", timeout=30)
            requests.post(base + "/missing", data=b"x", timeout=30)
    finally:
        server.shutdown()
        server.server_close()
    lines = [record.getMessage() for record in caplog.records if record.name == LOGGER_NAME]
    assert [re.sub(r"\d+ ms$", "N ms", line) for line in lines] == [
        "200 GET /api/v2/tickets.json?page=2 N ms", "404 POST /missing N ms"]
