"""HTTP plumbing of the local runtime: a threaded HTTP server that turns each request into an
``HttpRequest`` for an app callable, and the dispatch of local-only control endpoints (/_local/)."""
from __future__ import annotations

import json
import logging
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from automations.errors import Conflict, DomainError, NotFound, ValidationFailed
from automations.surfaces.http import refuses_media_type
from automations_local import LOGGER_NAME
from automations_local.api_gateway import MAX_BODY_BYTES, HttpRequest, HttpResponse, gateway_error, json_response

log = logging.getLogger(LOGGER_NAME)

App = Callable[[HttpRequest], HttpResponse]


class BodyTooLarge(Exception):
    pass


class LocalHttpServer(ThreadingHTTPServer):
    daemon_threads = True  # a hung handler must not keep the process alive on shutdown
    request_queue_size = 128  # the listen backlog: the default 5 resets connections under concurrent clients

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        super().__init__(address, _RequestHandler)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clients reuse connections, as with API Gateway
    server_version = "automations-local"
    sys_version = ""
    server: LocalHttpServer

    def _serve(self) -> None:
        self._started = time.monotonic()
        try:
            body = self._read_body()
        except BodyTooLarge:
            self.close_connection = True  # the unread body is still on the socket
            response = gateway_error(413, "Request Entity Too Large")
        except ValueError:
            self.close_connection = True
            response = gateway_error(400, "Bad Request")
        else:
            response = self._respond(body)
        self._write(response)

    def _respond(self, body: bytes) -> HttpResponse:
        request = HttpRequest(self.command, self.path, list(self.headers.items()), body,
                              self.client_address[0], self.request_version)
        try:
            return self.server.app(request)
        except Exception:
            log.exception("%s %s failed", self.command, self.path)
            return gateway_error(500, "Internal Server Error")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def __getattr__(self, name: str) -> Any:
        """Any other method (TRACE, QUERY...) reaches route matching too, as in API Gateway: an
        undeclared one is a 404, not the base class's 501."""
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            return self._read_chunked()
        length = int(self.headers.get("content-length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        if length > MAX_BODY_BYTES:
            raise BodyTooLarge
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while size := int(self.rfile.readline().split(b";")[0], 16):
            body += self.rfile.read(size)
            self.rfile.readline()  # the CRLF closing the chunk
            if len(body) > MAX_BODY_BYTES:
                raise BodyTooLarge
        while self.rfile.readline().strip():  # trailers, up to the blank line
            pass
        return bytes(body)

    def _write(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("content-length", str(len(response.body)))
        if self.close_connection:
            self.send_header("connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        """The access log: one line a request, as a person reads it."""
        started = getattr(self, "_started", None)  # unset when the request line itself was refused
        took = f" {(time.monotonic() - started) * 1000:.0f} ms" if started is not None else ""
        log.info("%s %s %s%s", int(code), self.command, self.path, took)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.info("%s %s", self.client_address[0], format % args)


# --- local control API ---------------------------------------------------------------------------


CONTROL_PREFIX = "/_local/"


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


ControlEndpoint = Callable[[Any, HttpRequest], HttpResponse]


class ControlEndpoints:
    """One module's local-only endpoints, keyed by (method, path); each takes (runtime, request)."""

    def __init__(self) -> None:
        self.by_route: dict[tuple[str, str], ControlEndpoint] = {}

    def route(self, method: str, path: str) -> Callable[[ControlEndpoint], ControlEndpoint]:
        def register(endpoint: ControlEndpoint) -> ControlEndpoint:
            self.by_route[(method, path)] = endpoint
            return endpoint

        return register


class ControlApi:
    """The local-only endpoints of the modules given. Never deployed, never authorized, answered
    before route matching. Errors answer {"error": ...}."""

    def __init__(self, *modules: ControlEndpoints) -> None:
        self.endpoints = {route: endpoint for module in modules for route, endpoint in module.by_route.items()}

    def serves(self, request: HttpRequest) -> bool:
        """/_local/ paths, and the local pages registered outside it (/openapi.json, /docs)."""
        return request.raw_path.startswith(CONTROL_PREFIX) or (request.method, request.raw_path) in self.endpoints

    def dispatch(self, runtime: Any, request: HttpRequest) -> HttpResponse:
        endpoint = self.endpoints.get((request.method, request.raw_path))
        if endpoint is None:
            return control_error(404, "not found")
        if not_json := refuses_media_type(request.method, request.header("content-type"), bool(request.body)):
            return control_error(415, not_json)  # the native API's rule: one for every surface of this product
        try:
            return endpoint(runtime, request)
        except ControlError as error:
            return control_error(error.status, str(error))
        except ValidationFailed as error:
            return json_response(422, {"error": error.message,
                                       "errors": [{"field": e.field, "message": e.message} for e in error.errors]})
        except DomainError as error:
            status = 404 if isinstance(error, NotFound) else 409 if isinstance(error, Conflict) else 400
            return control_error(status, error.message)


def control_error(status: int, message: str) -> HttpResponse:
    return json_response(status, {"error": message})


def read_json_object(request: HttpRequest) -> dict:
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        raise ControlError(400, "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ControlError(400, "the body must be a JSON object")
    return body
