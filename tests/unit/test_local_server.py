"""The local runtime's HTTP server: a listen backlog for many concurrent clients."""
from __future__ import annotations

import socket

from automations_local.router import HttpResponse
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
