"""Who really sent a request when omniline runs behind a reverse proxy (nginx, a load balancer).

The proxy connects to omniline itself, so without help every request seems to come from the
proxy, over plain HTTP: the console's login throttle would count every person's attempts as one
address's, and its session cookie would lose the ``Secure`` flag behind TLS. Proxies say what they
saw in ``X-Forwarded-For``, ``X-Forwarded-Proto`` and ``X-Forwarded-Host``; anyone can send those
headers, so they are believed only from the proxies named in ``server.trusted_proxies``.

``X-Forwarded-For`` lists every hop, the client first; each proxy appends the address it was
called from. Read from the right, the first address that is not a trusted proxy is the client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """``127.0.0.1``, ``10.0.0.0/8``, ``::1``... as networks (a ``ValueError`` says which entry is
    not an address or a network)."""
    found = []
    for entry in entries:
        try:
            found.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"{entry!r} is not an IP address or network (like 10.0.0.0/8)"
            ) from None
    return tuple(found)


def _trusted(address: str | None, trusted: tuple[Network, ...]) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def _last(request: web.Request, header: str) -> str | None:
    """The value the nearest proxy wrote: the last of a comma-separated list."""
    values = request.headers.getall(header, [])
    if not values:
        return None
    last = values[-1].split(",")[-1].strip()
    return last or None


def client_address(forwarded_for: list[str], peer: str, trusted: tuple[Network, ...]) -> str:
    """The client's address: from the right of the chain, the first hop no trusted proxy."""
    address = peer
    for hop in reversed(forwarded_for):
        if not _trusted(address, trusted):
            break
        try:
            address = str(ipaddress.ip_address(hop))
        except ValueError:
            break  # a hop that is not an address: keep the last one known for sure
    return address


def forwarded_middleware(trusted: tuple[Network, ...]) -> Any:
    """An aiohttp middleware that takes the client's address, scheme and host from the
    ``X-Forwarded-*`` headers of a request whose direct peer is a trusted proxy, and ignores
    them otherwise."""

    @web.middleware
    async def forwarded(request: web.Request, handler: Handler) -> web.StreamResponse:
        peer = request.remote
        if not trusted or not _trusted(peer, trusted):
            return await handler(request)
        assert peer is not None
        hops = [
            hop.strip()
            for value in request.headers.getall("X-Forwarded-For", [])
            for hop in value.split(",")
            if hop.strip()
        ]
        changes: dict[str, str] = {"remote": client_address(hops, peer, trusted)}
        scheme = _last(request, "X-Forwarded-Proto")
        if scheme in ("http", "https"):
            changes["scheme"] = scheme
        host = _last(request, "X-Forwarded-Host")
        if host:
            changes["host"] = host
        return await handler(request.clone(**changes))  # type: ignore[arg-type]

    return forwarded
