"""The suite looks up no name in DNS (tests/network.py): a made-up host fails as an unknown name, at once."""

import socket

import pytest


def test_a_name_is_not_looked_up():
    with pytest.raises(socket.gaierror, match="tests look up no names"):
        socket.getaddrinfo("national-system.example", 443)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_local_addresses_still_resolve(host):
    assert socket.getaddrinfo(host, 80, type=socket.SOCK_STREAM)
