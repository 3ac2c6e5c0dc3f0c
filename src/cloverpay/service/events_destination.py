"""Where events out may go: public addresses only, unless a setting allows a network.

A merchant chooses its events URL, and the worker posts to it from inside our network,
so the URL could aim at a private service, the host itself or a cloud metadata endpoint
(169.254.169.254). The host is resolved and **every** address it resolves to must be
public (``ipaddress``'s ``is_global``, not multicast), or inside one of
``Settings.events_out_allow_networks`` (e.g. ``127.0.0.1/32`` for the demo and the
tests). This is checked when the URL is saved and again before each delivery (DNS can
change), and the delivery connects to the address that was checked (the URL's host
kept for ``Host``, SNI and the certificate check), so a second, different answer from
DNS cannot slip in between the check and the connection.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "Destination",
    "DestinationRefused",
    "IPAddress",
    "IPNetwork",
    "Resolver",
    "allowed_networks",
    "check_destination",
    "resolve_host",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: host, port -> the addresses it resolves to (``socket.getaddrinfo`` by default).
Resolver = Callable[[str, int], list[str]]


class DestinationRefused(ValueError):
    """The URL's host is not a public address (or does not resolve); the message says
    which address and why."""


def resolve_host(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (the system's resolver)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def allowed_networks(cidrs: Iterable[str]) -> tuple[IPNetwork, ...]:
    """The setting's CIDRs as networks (``ValueError`` on a bad one)."""
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs)


def _refusal(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public destination; None when it is."""
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        ip = mapped
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified:
        return "an unspecified address"
    if not ip.is_global:
        return "a private or reserved address"
    return None


@dataclass(frozen=True, slots=True)
class Destination:
    """A checked URL and the address to connect to."""

    url: str
    host: str
    address: str

    def request_args(self) -> tuple[str, dict[str, str], dict[str, Any]]:
        """(URL with the checked address in place of the host, extra headers, httpx
        request extensions) for a request that goes to that address only."""
        parts = urlsplit(self.url)
        ip = ipaddress.ip_address(self.address)
        netloc = f"[{ip}]" if ip.version == 6 else str(ip)
        if parts.port is not None:
            netloc += f":{parts.port}"
        pinned = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
        host_header = f"[{self.host}]" if ":" in self.host else self.host
        if parts.port is not None:
            host_header += f":{parts.port}"
        extensions: dict[str, Any] = {}
        if parts.scheme == "https":
            extensions["sni_hostname"] = self.host
        return pinned, {"Host": host_header}, extensions


def check_destination(
    url: str,
    *,
    allow: Sequence[IPNetwork] = (),
    resolve: Resolver | None = None,
) -> Destination:
    """Resolve ``url``'s host (with ``resolve``, default :func:`resolve_host`) and refuse
    it unless every address is public or inside ``allow``. Raises
    :class:`DestinationRefused`."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        raise DestinationRefused("url has no host")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            addresses = (resolve or resolve_host)(host, port)
        except (OSError, UnicodeError) as exc:
            raise DestinationRefused(f"url host {host!r} does not resolve: {exc}") from None
        if not addresses:
            raise DestinationRefused(f"url host {host!r} does not resolve")
    for text in addresses:
        ip = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id
        why = _refusal(ip)
        if why is not None and not any(ip in net for net in allow if net.version == ip.version):
            raise DestinationRefused(
                f"url host {host!r} resolves to {ip}, {why}; events go to public addresses "
                "only (CLOVERPAY_EVENTS_OUT_ALLOW_NETWORKS lists exceptions)"
            )
    return Destination(url=url, host=host, address=addresses[0].split("%", 1)[0])
