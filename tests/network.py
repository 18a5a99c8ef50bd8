"""Tests and benchmarks send traffic to this machine only: no name is looked up in DNS.

Registering a webhook resolves its host (coordination/webhook_targets.py); a fuzzer or a fixture that names a made-up
host would otherwise ask the machine's resolver, which may be anywhere.  Names other than ``localhost`` fail here
as an unknown name does; literal addresses pass through untouched.
"""

from __future__ import annotations

import ipaddress
import socket

_real_getaddrinfo = socket.getaddrinfo
LOCAL_NAMES = {"localhost", "localhost.localdomain"}


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


def local_getaddrinfo(host, *args, **kwargs):
    name = host.decode() if isinstance(host, bytes) else host
    if name is None or name.lower() in LOCAL_NAMES or _is_literal(name):
        return _real_getaddrinfo(host, *args, **kwargs)
    raise socket.gaierror(socket.EAI_NONAME, f"tests look up no names ({name!r}): use a literal address")


def refuse_name_lookups() -> None:
    """For a whole process (bench/fuzz.py); the suite patches per test (tests/conftest.py)."""
    socket.getaddrinfo = local_getaddrinfo
