"""SHA-512 crypt ("$6$", Drepper's SHA-crypt) for /etc/shadow, so that a node gets root's password
as a hash through `chpasswd -e` and the clear password reaches no command line or guest file.

Python's `crypt` module is deprecated and gone in 3.13, so this is the published algorithm, checked
against its test vectors and the host's `openssl passwd -6`.
"""

from __future__ import annotations

import hashlib
import hmac

ALPHABET = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
ROUNDS = 5000  # the default, so the hash carries no rounds= field
SALT_CHARS = 16
_PERMUTATION = [
    (0, 21, 42), (22, 43, 1), (44, 2, 23), (3, 24, 45), (25, 46, 4), (47, 5, 26), (6, 27, 48),
    (28, 49, 7), (50, 8, 29), (9, 30, 51), (31, 52, 10), (53, 11, 32), (12, 33, 54), (34, 55, 13),
    (56, 14, 35), (15, 36, 57), (37, 58, 16), (59, 17, 38), (18, 39, 60), (40, 61, 19), (62, 20, 41),
]  # fmt: skip


def _repeat(block: bytes, length: int) -> bytes:
    return (block * (length // len(block) + 1))[:length]


def _b64(value: int, chars: int) -> str:
    out = []
    for _ in range(chars):
        out.append(ALPHABET[value & 0x3F])
        value >>= 6
    return "".join(out)


def sha512_crypt(password: str, salt: str) -> str:
    """`$6$salt$hash`; the salt is cut to 16 characters and must use the crypt alphabet."""
    salt = salt[:SALT_CHARS]
    if not salt or any(c not in ALPHABET for c in salt):
        raise ValueError(f"a SHA-512 crypt salt is 1 to 16 of {ALPHABET}")
    p, s = password.encode(), salt.encode()
    b = hashlib.sha512(p + s + p).digest()
    a = hashlib.sha512(p + s + _repeat(b, len(p)))
    length = len(p)
    while length:
        a.update(b if length & 1 else p)
        length >>= 1
    c = a.digest()
    p_seq = _repeat(hashlib.sha512(p * len(p)).digest(), len(p))
    s_seq = _repeat(hashlib.sha512(s * (16 + c[0])).digest(), len(s))
    for i in range(ROUNDS):
        h = hashlib.sha512(p_seq if i & 1 else c)
        if i % 3:
            h.update(s_seq)
        if i % 7:
            h.update(p_seq)
        h.update(c if i & 1 else p_seq)
        c = h.digest()
    encoded = "".join(_b64((c[x] << 16) | (c[y] << 8) | c[z], 4) for x, y, z in _PERMUTATION) + _b64(c[63], 2)
    return f"$6${salt}${encoded}"


def shadow_hash(password: str, context: str) -> str:
    """A SHA-512 crypt hash whose salt comes from the password and `context` (a node's name): the
    same lab renders the same files every time, yet two nodes never share a hash."""
    if not password:
        raise ValueError("refusing to hash an empty password")
    digest = hmac.new(password.encode(), context.encode(), hashlib.sha256).digest()
    return sha512_crypt(password, "".join(ALPHABET[byte & 0x3F] for byte in digest[:SALT_CHARS]))
