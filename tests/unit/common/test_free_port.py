"""free_port: a port for a process about to start, outside the kernel's range for outgoing connections."""

import socket

from common.testing import _ephemeral_low, free_port


def test_free_ports_are_below_the_ephemeral_range_and_bindable():
    low = _ephemeral_low()
    ports = {free_port() for _ in range(30)}
    assert all(1024 <= port < low for port in ports)
    assert len(ports) > 1  # spread, so that two test processes rarely pick the same one
    port = ports.pop()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_a_port_in_use_is_never_given():
    low = _ephemeral_low()
    held = []
    try:
        for port in range(low - 1, low - 400, -1):  # hold a block at the top of the span
            sock = socket.socket()
            try:
                sock.bind(("127.0.0.1", port))
                sock.listen()
            except OSError:
                sock.close()
                continue
            held.append(sock)
        taken = {s.getsockname()[1] for s in held}
        assert not {free_port() for _ in range(50)} & taken
    finally:
        for sock in held:
            sock.close()


def test_a_port_is_never_given_twice_even_after_its_check_socket_closed(monkeypatch):
    # Two services of one system draw their ports before either binds: the same draw must not
    # give the same port twice (a CI run failed with "address already in use" that way).
    draws = iter([7, 7, 7, 9])
    monkeypatch.setattr("common.testing.secrets.randbelow", lambda _span: next(draws))
    monkeypatch.setattr("common.testing._PORTS_GIVEN", set())
    low = _ephemeral_low()
    first, second = free_port(), free_port()
    assert first == low - 8
    assert second == low - 10
