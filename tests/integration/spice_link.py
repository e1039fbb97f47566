"""A SPICE client that goes exactly as far as authentication, to prove who can open a display.

The link handshake (spice-protocol's protocol.h): the client sends SpiceLinkHeader + SpiceLinkMess
for the main channel; the server answers SpiceLinkReply with a 1024-bit RSA public key (DER
SubjectPublicKeyInfo); the client picks the SPICE auth mechanism and sends the NUL-terminated
ticket encrypted with RSA-OAEP(SHA-1); the server answers a 4-byte link result. Standard library
only: the RSA-OAEP encryption is a few lines of RFC 8017.
"""

from __future__ import annotations

import hashlib
import os
import socket
import struct

MAGIC = b"REDQ"
MAJOR, MINOR = 2, 2
CHANNEL_MAIN = 1
CAP_AUTH_SELECTION, CAP_AUTH_SPICE = 0, 1
PUBKEY_BYTES = 162
LINK_OK, LINK_PERMISSION_DENIED = 0, 7
LINK_ERRORS = {
    0: "OK",
    1: "ERROR",
    2: "INVALID_MAGIC",
    3: "INVALID_DATA",
    4: "VERSION_MISMATCH",
    5: "NEED_SECURED",
    6: "NEED_UNSECURED",
    7: "PERMISSION_DENIED",
    8: "BAD_CONNECTION_ID",
    9: "CHANNEL_NOT_AVAILABLE",
}
LINK_ERRORS_BY_NAME = {name: code for code, name in LINK_ERRORS.items()}
_HEADER = struct.Struct("<4sIII")
_MESS = struct.Struct("<IBBIII")


class SpiceProtocolError(Exception):
    """The peer did not speak the SPICE link protocol as expected."""


def link_mess() -> bytes:
    """Header + SpiceLinkMess for the main channel, offering auth selection and SPICE auth."""
    caps = struct.pack("<I", (1 << CAP_AUTH_SELECTION) | (1 << CAP_AUTH_SPICE))
    mess = _MESS.pack(0, CHANNEL_MAIN, 0, 1, 0, _MESS.size) + caps
    return _HEADER.pack(MAGIC, MAJOR, MINOR, len(mess)) + mess


def parse_link_reply(data: bytes) -> tuple[int, bytes]:
    """(error, DER public key) from header + SpiceLinkReply."""
    if len(data) < _HEADER.size:
        raise SpiceProtocolError(f"link reply too short ({len(data)} bytes)")
    magic, major, _minor, size = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise SpiceProtocolError(f"bad magic {magic!r} in the link reply")
    if major != MAJOR:
        raise SpiceProtocolError(f"server speaks SPICE {major}, not {MAJOR}")
    body = data[_HEADER.size :]
    if size < 4 or len(body) < size:
        raise SpiceProtocolError(f"link reply body of {len(body)} bytes, header says {size}")
    (error,) = struct.unpack_from("<I", body)
    if error != LINK_OK:
        return error, b""
    if size < 4 + PUBKEY_BYTES:
        raise SpiceProtocolError(f"link reply of {size} bytes has no public key")
    return error, body[4 : 4 + PUBKEY_BYTES]


def _der(data: bytes, pos: int, tag: int) -> tuple[bytes, int]:
    """The value of the DER element of type `tag` at `pos`, and the position after it."""
    if pos + 2 > len(data) or data[pos] != tag:
        raise SpiceProtocolError(f"public key: expected DER tag {tag:#x} at byte {pos}")
    length, pos = data[pos + 1], pos + 2
    if length & 0x80:
        count = length & 0x7F
        length, pos = int.from_bytes(data[pos : pos + count], "big"), pos + count
    if pos + length > len(data):
        raise SpiceProtocolError("public key: DER element runs past the end")
    return data[pos : pos + length], pos + length


def rsa_public_key(spki: bytes) -> tuple[int, int]:
    """(n, e) from a DER SubjectPublicKeyInfo holding an RSA key."""
    info, _ = _der(spki, 0, 0x30)
    _algorithm, pos = _der(info, 0, 0x30)
    bits, _ = _der(info, pos, 0x03)
    key, _ = _der(bits[1:], 0, 0x30)
    n, pos = _der(key, 0, 0x02)
    e, _ = _der(key, pos, 0x02)
    return int.from_bytes(n, "big"), int.from_bytes(e, "big")


def _mgf1(seed: bytes, length: int) -> bytes:
    out = b"".join(hashlib.sha1(seed + i.to_bytes(4, "big")).digest() for i in range(-(-length // 20)))
    return out[:length]


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def oaep_encrypt(n: int, e: int, message: bytes, seed: bytes | None = None) -> bytes:
    """RSAES-OAEP-ENCRYPT (RFC 8017 7.1.1) with SHA-1 and MGF1-SHA-1, empty label."""
    k, h = (n.bit_length() + 7) // 8, 20
    if len(message) > k - 2 * h - 2:
        raise ValueError(f"message of {len(message)} bytes is too long for a {k}-byte key")
    db = hashlib.sha1(b"").digest() + b"\0" * (k - len(message) - 2 * h - 2) + b"\1" + message
    seed = seed if seed is not None else os.urandom(h)
    masked_db = _xor(db, _mgf1(seed, k - h - 1))
    masked_seed = _xor(seed, _mgf1(masked_db, h))
    em = int.from_bytes(b"\0" + masked_seed + masked_db, "big")
    return pow(em, e, n).to_bytes(k, "big")


def _recv_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise SpiceProtocolError(f"connection closed after {len(data)} of {count} bytes")
        data += chunk
    return data


def spice_link(host: str, port: int, password: str, timeout: float = 10.0) -> int:
    """Authenticate on the main channel with `password`; the server's link result (LINK_OK, ...)."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(link_mess())
        header = _recv_exactly(sock, _HEADER.size)
        size = _HEADER.unpack(header)[3] if header[:4] == MAGIC else 0
        error, spki = parse_link_reply(header + _recv_exactly(sock, min(size, 4096)))
        if error != LINK_OK:
            return error
        n, e = rsa_public_key(spki)
        ticket = oaep_encrypt(n, e, password.encode() + b"\0")
        sock.sendall(struct.pack("<I", CAP_AUTH_SPICE) + ticket)
        (result,) = struct.unpack("<I", _recv_exactly(sock, 4))
        return int(result)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Try a password on a SPICE port; exit 0 if accepted.")
    parser.add_argument("port", type=int)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    password = os.environ.get("SPICE_PASSWORD", "")
    result = spice_link(args.host, args.port, password)
    print(LINK_ERRORS.get(result, f"unknown link result {result}"))
    raise SystemExit(0 if result == LINK_OK else 1)


if __name__ == "__main__":
    main()
