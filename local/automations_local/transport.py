"""AWS calls from the runtime's own process to its own moto: handed to moto's WSGI app on the
calling thread, the same request and response bytes, without a socket. Over HTTP each call also
paid a TCP connection, an HTTP parser on each side and a thread of moto's server, about a third
of a GetItem's CPU. Other processes (the CLI, a test's own clients) still reach moto over HTTP."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from automations_local.aws_model_check import register_on_every_session

EVENT = "before-send"


def send_in_process(endpoint: str, app: Callable) -> Callable[[], None]:
    """Answer every request for ``endpoint`` of a botocore session created from now on with
    ``app`` (a WSGI app); returns what undoes it for sessions created after."""
    from botocore import handlers

    handler = _Sender(endpoint.rstrip("/"), app)
    register_on_every_session(EVENT, handler)
    return lambda: handlers.BUILTIN_HANDLERS.remove((EVENT, handler))


class _Sender:
    def __init__(self, endpoint: str, app: Callable) -> None:
        self.endpoint, self.app = endpoint, app

    def __call__(self, request: Any, **_: Any) -> Any:
        if not (request.url == self.endpoint or request.url.startswith(self.endpoint + "/")):
            return None  # another endpoint: botocore sends it
        from botocore.awsrequest import AWSResponse
        from moto.core.botocore_stubber import MockRawResponse
        from werkzeug.test import EnvironBuilder, run_wsgi_app

        url = urlsplit(request.url)
        body = request.body.read() if hasattr(request.body, "read") else request.body
        environ = EnvironBuilder(
            method=request.method, base_url=f"{url.scheme}://{url.netloc}", path=url.path, query_string=url.query,
            headers={name: value.decode() if isinstance(value, bytes) else value
                     for name, value in request.headers.items()},
            data=body.encode() if isinstance(body, str) else body or b"").get_environ()
        chunks, status, headers = run_wsgi_app(self.app, environ, buffered=True)
        return AWSResponse(request.url, int(status.split(" ", 1)[0]), dict(headers),
                           MockRawResponse(b"".join(chunks)))
