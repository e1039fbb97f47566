"""tests/integration/spice_link.py, the SPICE authentication probe the access tests rely on:
against a fake server that really decrypts the ticket (RSA-OAEP, SHA-1), and fed empty and
garbage replies. The real QEMU is in tests/integration/test_access.py."""

from __future__ import annotations

import hashlib
import random
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration import spice_link as spice
from tests.integration.spice_link import SpiceProtocolError

PASSWORD = "the-right-One_24chars..."
CAPTURED = Path(__file__).parent / "data" / "spice-link-reply.hex"


# -- a small RSA key and its DER SubjectPublicKeyInfo ------------------------------------------------
def _prime(bits: int, rng: random.Random) -> int:
    while True:
        n = rng.getrandbits(bits) | (3 << (bits - 2)) | 1  # two top bits: p * q has 2 * bits bits
        if all(pow(a, n - 1, n) == 1 for a in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)):
            return n


def _der(tag: int, value: bytes) -> bytes:
    size = len(value)
    length = (
        bytes([size]) if size < 0x80 else bytes([0x81, size]) if size < 0x100 else b"\x82" + size.to_bytes(2, "big")
    )
    return bytes([tag]) + length + value


def _der_int(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


KEY_RNG = random.Random(8)
P, Q, E = _prime(512, KEY_RNG), _prime(512, KEY_RNG), 65537
N, D = P * Q, pow(E, -1, (P - 1) * (Q - 1))
RSA_OID = _der(0x30, bytes.fromhex("06092a864886f70d0101010500"))
SPKI = _der(0x30, RSA_OID + _der(0x03, b"\0" + _der(0x30, _der_int(N) + _der_int(E))))


def oaep_decrypt(ciphertext: bytes) -> bytes:
    k = (N.bit_length() + 7) // 8
    em = pow(int.from_bytes(ciphertext, "big"), D, N).to_bytes(k, "big")
    masked_seed, masked_db = em[1:21], em[21:]
    seed = spice._xor(masked_seed, spice._mgf1(masked_db, 20))
    db = spice._xor(masked_db, spice._mgf1(seed, k - 21))
    assert em[0] == 0 and db[:20] == hashlib.sha1(b"").digest()
    return db[20:].lstrip(b"\0")[1:]


# -- a fake SPICE server ---------------------------------------------------------------------------------
Handler = Callable[[socket.socket], None]


@pytest.fixture
def server() -> Iterator[Callable[[Handler], int]]:
    listeners: list[socket.socket] = []

    def start(handler: Handler) -> int:
        listener = socket.create_server(("127.0.0.1", 0))
        listeners.append(listener)

        def serve() -> None:
            conn, _ = listener.accept()
            with conn:
                handler(conn)

        threading.Thread(target=serve, daemon=True).start()
        return int(listener.getsockname()[1])

    yield start
    for listener in listeners:
        listener.close()


def spice_server(conn: socket.socket) -> None:
    """Checks the client's link message, then judges its ticket as spice-server does."""
    header = spice._recv_exactly(conn, 16)
    magic, major, minor, size = struct.unpack("<4sIII", header)
    assert (magic, major, minor) == (b"REDQ", 2, 2)
    mess = spice._recv_exactly(conn, size)
    _conn_id, channel, _id, common, _channel_caps, offset = struct.unpack_from("<IBBIII", mess)
    assert channel == spice.CHANNEL_MAIN and common == 1
    assert struct.unpack_from("<I", mess, offset)[0] & (1 << spice.CAP_AUTH_SELECTION)
    reply = struct.pack("<I", 0) + SPKI + struct.pack("<III", 1, 0, 4 + 162 + 12) + struct.pack("<I", 3)
    conn.sendall(struct.pack("<4sIII", b"REDQ", 2, 2, len(reply)) + reply)
    (mechanism,) = struct.unpack("<I", spice._recv_exactly(conn, 4))
    ticket = oaep_decrypt(spice._recv_exactly(conn, 128))
    ok = mechanism == spice.CAP_AUTH_SPICE and ticket == PASSWORD.encode() + b"\0"
    conn.sendall(struct.pack("<I", spice.LINK_OK if ok else spice.LINK_PERMISSION_DENIED))


def test_the_test_key_is_a_real_1024_bit_spki() -> None:
    assert len(SPKI) == spice.PUBKEY_BYTES and N.bit_length() == 1024
    assert spice.rsa_public_key(SPKI) == (N, E)


def test_oaep_round_trip() -> None:
    for message in (b"\0", b"x\0", PASSWORD.encode() + b"\0", bytes(range(1, 87))):
        assert oaep_decrypt(spice.oaep_encrypt(N, E, message)) == message
    with pytest.raises(ValueError, match="too long"):
        spice.oaep_encrypt(N, E, b"x" * 87)


@pytest.mark.parametrize(
    ("password", "expected"),
    [(PASSWORD, spice.LINK_OK), ("", spice.LINK_PERMISSION_DENIED), ("wrong", spice.LINK_PERMISSION_DENIED)],
)
def test_the_server_judges_the_ticket_we_send(server: Callable[[Handler], int], password: str, expected: int) -> None:
    assert spice.spice_link("127.0.0.1", server(spice_server), password, timeout=5) == expected


def test_a_link_error_from_the_server_is_returned(server: Callable[[Handler], int]) -> None:
    def refuse(conn: socket.socket) -> None:
        spice._recv_exactly(conn, 16 + 22)
        conn.sendall(struct.pack("<4sIIII", b"REDQ", 2, 2, 4, spice.LINK_ERRORS_BY_NAME["VERSION_MISMATCH"]))

    assert spice.spice_link("127.0.0.1", server(refuse), PASSWORD, timeout=5) == 4


@pytest.mark.parametrize(
    "answer",
    [b"", b"HTTP/1.1 400 Bad Request\r\n\r\n", b"REDQ" + struct.pack("<III", 1, 2, 170) + b"\0" * 170, b"REDQ\2\0"],
    ids=["closed", "http", "old-major", "truncated"],
)
def test_empty_or_garbage_replies_are_protocol_errors(server: Callable[[Handler], int], answer: bytes) -> None:
    def reply(conn: socket.socket) -> None:
        spice._recv_exactly(conn, 16 + 22)
        conn.sendall(answer)

    with pytest.raises(SpiceProtocolError):
        spice.spice_link("127.0.0.1", server(reply), PASSWORD, timeout=5)


@pytest.mark.parametrize("spki", [b"", b"\x30", b"\x04\x03abc", b"\x30\x81\xff" + b"\0" * 10, SPKI[:50]])
def test_garbage_public_keys_are_protocol_errors(spki: bytes) -> None:
    with pytest.raises(SpiceProtocolError):
        spice.rsa_public_key(spki)


@pytest.mark.skipif(not CAPTURED.exists(), reason="no captured reply")
def test_a_reply_captured_from_qemu_parses() -> None:
    error, spki = spice.parse_link_reply(bytes.fromhex(CAPTURED.read_text()))
    n, e = spice.rsa_public_key(spki)
    assert (error, n.bit_length(), e) == (spice.LINK_OK, 1024, 65537)
