"""Which hosts a camera added through the runtime API may make panoray connect to.

A camera URL posted to ``POST /v1/cameras`` makes the server open a connection wherever
it points, so it is checked against ``http.allowed_hosts`` (IP networks, host names,
``*.suffix`` patterns, ``*``). Loopback and link-local addresses (the server itself, a
cloud's metadata service at 169.254.169.254) are refused unless a listed network is
itself loopback or link-local: ``*`` and ``0.0.0.0/0`` never admit them. A host name
must match a listed name or pattern and resolve, and every address it resolves to is
checked the same way.

Example:
    >>> print(host_refusal("169.254.169.254", ("*",),
    ...                    resolve=lambda h: []))  # doctest: +NORMALIZE_WHITESPACE
    169.254.169.254 is a link-local address; list a link-local network in http.allowed_hosts to
    allow it
    >>> host_refusal("10.0.0.5", ("10.0.0.0/8",), resolve=lambda h: []) is None
    True
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def resolve_host(host: str) -> list[str]:
    """Every address ``host`` resolves to (empty when it does not resolve). Blocking."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return []
    return sorted({str(info[4][0]) for info in infos})


def _special(ip: IpAddress) -> str | None:
    """Why ``ip`` needs an explicit network (loopback, link-local, ...), or None."""
    for kind in ("loopback", "link_local", "unspecified", "multicast"):
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    return None


def _networks(allowed: Sequence[str]) -> list[IpNetwork]:
    out = []
    for entry in allowed:
        try:
            out.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue  # a host name pattern
    return out


def _address_refusal(ip: IpAddress, allowed: Sequence[str]) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    networks = [n for n in _networks(allowed) if n.version == ip.version and ip in n]
    kind = _special(ip)
    if kind is None:
        if networks or "*" in allowed:
            return None
        return f"{ip} is not in http.allowed_hosts"
    if any(_special(n.network_address) == kind for n in networks):
        return None
    return (f"{ip} is a {kind} address; list a {kind} network in http.allowed_hosts to "
            "allow it")


def _name_allowed(name: str, allowed: Sequence[str]) -> bool:
    name = name.lower().rstrip(".")
    for entry in allowed:
        entry = entry.lower()
        if entry == "*" or entry == name:
            return True
        if entry.startswith("*.") and name.endswith(entry[1:]):
            return True
    return False


def host_refusal(
    host: str, allowed: Sequence[str], resolve: Callable[[str], list[str]] = resolve_host
) -> str | None:
    """Why a camera may not connect to ``host``, or None when it may.

    Args:
        host: the URL's host (an IP address, bracketed or not, or a name).
        allowed: ``http.allowed_hosts``.
        resolve: name resolution (:func:`resolve_host`).
    """
    text = host.strip().strip("[]")
    if not text:
        return "the URL names no host"
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        ip = None
    if ip is not None:
        return _address_refusal(ip, allowed)
    if not _name_allowed(text, allowed):
        return f"host {text!r} is not in http.allowed_hosts"
    addresses = resolve(text)
    if not addresses:
        return f"host name {text!r} does not resolve"
    for address in addresses:
        why = _address_refusal(ipaddress.ip_address(address.split("%", 1)[0]), allowed)
        if why is not None:
            return f"host {text!r} resolves to {why}"
    return None
