"""Where a webhook may be sent: a defence against server-side request forgery.

A webhook URL is chosen by a nation's system, but the POST leaves from inside the portal's network.  So a URL is
resolved and refused when any of its addresses is loopback, private, link-local, multicast, reserved, unspecified
or otherwise not global (IPv4 and IPv6, IPv4-mapped IPv6 included), unless the address falls in
``WEBHOOK_ALLOWED_NETWORKS``.  The check runs when an endpoint is registered or changed and again at every delivery,
and the delivery connects to the address this check returned, so a name cannot be re-pointed between the check
and the connection (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# One message for "does not resolve" and "resolves to a refused address": the answer must not tell an outsider
# which internal names exist.
REFUSED_ADDRESS = (
    "This host does not resolve to an address webhooks may be sent to: loopback, private, link-local, multicast "
    "and reserved addresses are refused unless they are in WEBHOOK_ALLOWED_NETWORKS."
)


class TargetRefused(Exception):
    """The URL may not receive webhooks.  The message is meant for the endpoint's owner."""


@dataclass(frozen=True)
class Target:
    """A checked webhook URL: connect to `address`, present `host` (Host header, TLS server name)."""

    scheme: str
    host: str
    port: int
    address: str
    path: str  # path and query, as sent in the request line
    host_header: str


@lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs if c.strip())


def allowed_networks() -> tuple[IPNetwork, ...]:
    return _networks(tuple(settings.WEBHOOK_ALLOWED_NETWORKS))


def is_refused(address: IPAddress) -> bool:
    """True when a webhook may not be sent to `address`."""
    mapped = getattr(address, "ipv4_mapped", None)
    candidates = [address, mapped] if mapped else [address]
    allowed = allowed_networks()
    if any(a in net for a in candidates for net in allowed if a.version == net.version):
        return False
    return any(
        a.is_loopback
        or a.is_private
        or a.is_link_local
        or a.is_multicast
        or a.is_reserved
        or a.is_unspecified
        or not a.is_global
        for a in candidates
    )


def check_url(url: str) -> Target:
    """Resolve `url` once and return where to connect; `TargetRefused` if webhooks may not go there.

    Only http and https, no credentials in the URL, and every address the host resolves to must be allowed
    (otherwise a name with one public and one private address could still reach the private one)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused("Enter a valid URL.") from exc
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("Use an http or https URL.")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("A webhook URL may not contain a user name or password.")
    host = parts.hostname
    if not host:
        raise TargetRefused("Enter a valid URL.")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise TargetRefused(REFUSED_ADDRESS) from exc
    addresses: list[IPAddress] = []
    for *_, sockaddr in answers:
        try:
            # a scope ("fe80::1%eth0") is not part of the address
            addresses.append(ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0]))
        except ValueError:
            continue
    if not addresses or any(is_refused(a) for a in addresses):
        raise TargetRefused(REFUSED_ADDRESS)
    path = parts.path or "/"
    return Target(
        scheme=parts.scheme,
        host=host,
        port=port,
        address=str(addresses[0]),
        path=f"{path}?{parts.query}" if parts.query else path,
        host_header=parts.netloc,
    )
