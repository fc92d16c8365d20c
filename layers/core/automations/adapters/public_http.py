"""One HTTP POST to a public address, for webhooks: the name is resolved once, within a time
limit (getaddrinfo has none of its own), every address it gives is checked, and the connection
goes to a checked address (no second lookup a changed DNS answer could turn inward); redirects
are not followed; the whole call, TLS handshake and the answer's headers included, has one
deadline, so a receiver that answers a byte at a time cannot hold a run past it. A URL that HTTP
cannot carry is refused before anything is resolved."""
from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolve = Callable[[str, int], Sequence[str]]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# What inet_aton reads as an IPv4 address: one to four parts, each decimal, octal or hex.
_NUMERIC_HOST = re.compile(r"(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?", re.IGNORECASE)
# What http.client refuses to send in a URL (InvalidURL): spaces and control characters.
_NOT_IN_URL = re.compile(r"[\x00-\x20\x7f]")
_HOST_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?", re.IGNORECASE)  # as IDNA writes it


class Refused(Exception):
    """The URL may not be called (a non-public address, or no usable http(s) URL)."""


class Unreachable(Exception):
    """No answer this time (the name did not resolve, the connection failed or timed out)."""


class NotConnected(Unreachable):
    """That address took no connection (refused, unreachable, timed out): nothing was sent."""


def is_public(ip: Address) -> bool:
    """Whether a webhook may connect to ``ip``: a global unicast address (Python's registry of
    special ranges: private, shared, loopback, link-local, 6to4, Teredo... are not global). A
    NAT64 address is judged by the IPv4 address it carries; IPv4-mapped ones are refused."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return False
        if ip in _NAT64:
            return is_public(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return ip.is_global and not ip.is_multicast and not ip.is_reserved


def resolve_host(host: str, port: int) -> list[str]:
    return [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def resolve_within(resolve: Resolve, host: str, port: int, seconds: float) -> list[str]:
    """``resolve(host, port)``, given ``seconds``: a lookup still running then is left to finish
    alone (a daemon thread; nothing can stop getaddrinfo) and the name counts as unresolved."""
    answer: list = []

    def lookup() -> None:
        try:
            answer.append(list(resolve(host, port)))
        except (OSError, UnicodeError) as e:
            answer.append(e)

    finished = threading.Thread(target=lookup, daemon=True, name=f"resolve {host}")
    finished.start()
    finished.join(max(seconds, 0.0))
    if not answer:
        raise Unreachable(f"no DNS answer for {host} within {seconds:.2g} s")
    if isinstance(answer[0], Exception):
        raise Unreachable(f"cannot resolve {host}: {answer[0]}")
    return answer[0]


@dataclass(frozen=True)
class Target:
    """A URL checked once: the addresses to connect to (in the resolver's order)."""
    tls: bool
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


def check(url: str, resolve: Resolve, permitted: Callable[[Address], bool], *, seconds: float) -> Target:
    """The URL's host resolved once, within ``seconds``, each address checked: Refused names the
    first that is not ``permitted``, a host written as a number in any other form than a dotted
    quad, and a URL that HTTP cannot carry (Unreachable: no answer in time)."""
    if _NOT_IN_URL.search(url):
        raise Refused("not a usable URL: it holds spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise Refused(f"not a usable URL: {e}") from None
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host:
        raise Refused("not an absolute http or https URL")
    tls = parts.scheme == "https"
    port = port or (443 if tls else 80)
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is None and _NUMERIC_HOST.fullmatch(host):
        raise Refused(f"{host} is an address written in a non-standard form")
    if literal is not None:
        addresses = [host]
    else:
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            host = ""
        if not _HOST_NAME.fullmatch(host):
            raise Refused(f"not a usable URL: {parts.hostname!r} is not a host name")
        addresses = list(dict.fromkeys(resolve_within(resolve, host, port, seconds)))
    if not addresses:
        raise Unreachable(f"cannot resolve {host}: no address")
    for address in addresses:
        if not permitted(ipaddress.ip_address(address)):
            raise Refused(f"{host} resolves to a non-public address ({address})")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(tls=tls, host=host, port=port, path=path, addresses=tuple(addresses))


class _InTime:
    """A socket whose every operation gets only the time left before ``deadline`` (a
    time.monotonic()); a TLS handshake is one operation, bounded as a whole by CPython."""

    deadline: float | None = None

    def _left(self) -> None:
        if self.deadline is None:
            return
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        self.settimeout(left)

    def connect(self, address):
        self._left()
        return super().connect(address)

    def sendall(self, data, *args):
        self._left()
        return super().sendall(data, *args)

    def recv_into(self, buffer, *args):
        self._left()
        return super().recv_into(buffer, *args)

    def recv(self, size, *args):
        self._left()
        return super().recv(size, *args)


class _InTimeSocket(_InTime, socket.socket):
    pass


class _InTimeTlsSocket(_InTime, ssl.SSLSocket):
    pass


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection for ``target.host`` to one of its checked addresses; TLS checks the
    certificate against the host name."""

    def __init__(self, target: Target, address: str, deadline: float, tls: ssl.SSLContext | None) -> None:
        super().__init__(target.host, target.port)
        self.default_port = 443 if target.tls else 80  # the Host header names a port only when not the default
        self._address, self._deadline, self._tls = address, deadline, tls

    def connect(self) -> None:
        sock = _InTimeSocket(socket.AF_INET6 if ":" in self._address else socket.AF_INET, socket.SOCK_STREAM)
        sock.deadline = self._deadline
        try:
            try:
                sock.connect((self._address, self.port))
            except OSError as e:  # TimeoutError included
                raise NotConnected(f"{self._address}: {e or type(e).__name__}") from None
            if self._tls is not None:
                sock.settimeout(max(self._deadline - time.monotonic(), 0.001))
                sock = self._tls.wrap_socket(sock, server_hostname=self.host)
                sock.deadline = self._deadline
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def tls_context(cafile: str | None = None) -> ssl.SSLContext:
    """Certificates checked against the system's authorities (or ``cafile``'s)."""
    context = ssl.create_default_context(cafile=cafile)
    context.sslsocket_class = _InTimeTlsSocket
    return context


def post(target: Target, address: str, body: bytes, headers: dict[str, str], *, seconds: float,
         tls: ssl.SSLContext) -> tuple[int, str | None]:
    """POST ``body`` to ``address`` for ``target``, within ``seconds`` in all: (status, Location).
    The answer's body is not read."""
    connection = _PinnedConnection(target, address, time.monotonic() + seconds, tls if target.tls else None)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.getheader("Location")
    except TimeoutError:
        raise Unreachable(f"no answer within {seconds:.2g} s") from None
    except (OSError, http.client.HTTPException) as e:
        raise Unreachable(str(e) or type(e).__name__) from None
    finally:
        connection.close()
