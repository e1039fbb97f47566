"""labctl.render.shadow: SHA-512 crypt against the published vectors and the host's tools, and the
root password as the base recipe renders it (a hash in a 0600 file; the clear text nowhere)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from labctl.render.shadow import ALPHABET, sha512_crypt, shadow_hash
from tests.unit.render.golden import REPO, SECRETS, rendered

ROOT_FILE = "/root/.labctl-root.chpasswd"


@pytest.mark.parametrize(
    ("password", "salt", "expected"),
    [
        (  # Drepper, "Unix crypt using SHA-256 and SHA-512", test vectors
            "Hello world!",
            "saltstring",
            "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
        ),
        (  # rounds=5000 is the default: same hash, salt cut to 16 characters
            "This is just a test",
            "toolongsaltstring",
            "$6$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0",
        ),
    ],
)
def test_published_vectors(password: str, salt: str, expected: str) -> None:
    assert sha512_crypt(password, salt) == expected


@pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl on this host")
@pytest.mark.parametrize("password", ["a", "x" * 63, "x" * 64, "x" * 65, "x" * 200, "pass word", "é€ü:\\$"])
@pytest.mark.parametrize("salt", ["ab", "./9Zz", "abcdefghijklmnop"])
def test_agrees_with_openssl(password: str, salt: str) -> None:
    """openssl reads one line of at most a few hundred bytes, and an empty one as no password."""
    result = subprocess.run(
        ["openssl", "passwd", "-6", "-salt", salt, "-stdin"], input=password + "\n", capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert sha512_crypt(password, salt) == result.stdout.strip()


@pytest.mark.parametrize("salt", ["", "has space", "dollar$", "colon:", "ü"])
def test_garbage_salt_is_refused(salt: str) -> None:
    with pytest.raises(ValueError, match="salt"):
        sha512_crypt("pw", salt)


def test_shadow_hash_is_stable_per_node_and_differs_between_nodes() -> None:
    first, again, other = shadow_hash("pw", "r1"), shadow_hash("pw", "r1"), shadow_hash("pw", "r2")
    assert first == again != other
    salt = first.split("$")[2]
    assert len(salt) == 16 and set(salt) <= set(ALPHABET)
    assert sha512_crypt("pw", salt) == first
    with pytest.raises(ValueError, match="empty"):
        shadow_hash("", "r1")


@pytest.mark.parametrize("topology", ["voip-demo", "ospf-dns"])
def test_every_node_gets_root_hash_in_a_private_file_and_never_the_clear_password(topology: str) -> None:
    password = SECRETS["root_password"]
    for node, steps in rendered(REPO / "topologies" / f"{topology}.yaml").items():
        base = steps["base"]
        (root_file,) = [f for f in base.files if f.path == ROOT_FILE]
        assert (root_file.mode, root_file.owner) == ("0600", "root:root")
        user, hashed = root_file.content.strip().split(":")
        assert user == "root" and hashed == sha512_crypt(password, hashed.split("$")[2]), node
        assert base.commands[0] == f"chpasswd -e < {ROOT_FILE} && rm -f {ROOT_FILE}"
        for step in steps.values():
            texts = [f.content for f in step.files] + list(step.commands)
            texts += [step.ready.command] if step.ready else []
            assert not [t for t in texts if password in t], f"{node}/{step.role} shows root's password"
