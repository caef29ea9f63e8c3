"""Ports for test and bench servers stay out of the kernel's ephemeral range."""

from __future__ import annotations

import socket

from zorg_common.broker import bindable, ephemeral_range, free_port


def test_free_port_is_below_the_ephemeral_range_and_bindable() -> None:
    low, high = ephemeral_range()
    assert 0 < low <= high
    ports = {free_port() for _ in range(20)}
    assert all(10_000 <= port < low and bindable(port) for port in ports)


def test_a_listening_port_is_not_bindable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert not bindable(sock.getsockname()[1])
