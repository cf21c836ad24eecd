"""The caller's network address for rate limits: ``X-Forwarded-For`` only from trusted proxies.

Anyone can send ``X-Forwarded-For``; believing it from anyone lets a password guesser pose as a
new address on every attempt. It is read only when the connection comes from a proxy listed in
``RECHECK_TRUSTED_PROXIES``, and then from the right: the first hop not itself a trusted proxy is
the client (what a client wrote to the left of it is not trusted). The ASGI server must not
rewrite the address itself (``recheck serve`` runs uvicorn with its proxy-header handling off).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from litestar.connection import ASGIConnection

__all__ = ["Network", "client_address", "parse_networks"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[Network, ...]:
    """``10.0.0.5, 172.18.0.0/16, ::1`` → networks (a bare address is a /32 or /128)."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip())


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address: str, proxies: Iterable[Network]) -> bool:
    ip = _ip(address)
    return ip is not None and any(ip in network for network in proxies)


def client_address(connection: ASGIConnection[Any, Any, Any, Any], proxies: tuple[Network, ...]) -> str:
    """The client's address: the peer, or behind trusted proxies the last untrusted hop."""
    peer = connection.client.host if connection.client else "unknown"
    if not proxies or not _trusted(peer, proxies):
        return peer
    hops = [hop.strip() for value in connection.headers.getall("x-forwarded-for", []) for hop in value.split(",")]
    address = peer
    for hop in reversed([h for h in hops if h]):
        if _ip(hop) is None:
            break  # garbage: the proxy that passed it on is the last address known
        address = str(_ip(hop))
        if not _trusted(hop, proxies):
            break
    return address
