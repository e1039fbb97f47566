"""labctl.backends.libvirt.dac: which user QEMU would run as, and which folders stop it."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from labctl.backends.libvirt.dac import DEFAULT_QEMU_USER, Account, account, blocking_folders, configured_user

NOBODY = Account("nobody", 65534, frozenset({65534}))
ROOT = Account("root", 0, frozenset({0}))


@pytest.mark.parametrize(
    ("conf", "user"),
    [
        ("", DEFAULT_QEMU_USER),
        ('#user = "root"\n', DEFAULT_QEMU_USER),
        ('user = "root"\n', "root"),
        ('  user = "+0"  # as root\n', "+0"),
        ('user = "a"\nuser = "b"\n', "b"),
        ('group = "kvm"\nuser="qemu"\n', "qemu"),
        ("user = root\n", DEFAULT_QEMU_USER),  # not valid libvirt syntax: ignored
        ('dynamic_user = "x"\nusername = "y"\n', DEFAULT_QEMU_USER),
        ("\0\xff garbage {{", DEFAULT_QEMU_USER),
    ],
)
def test_configured_user(conf: str, user: str) -> None:
    assert configured_user(conf) == user


def test_account_by_name_or_uid_and_unknown() -> None:
    root = account("root")
    assert root is not None and root.uid == 0 and 0 in root.gids
    assert account("+0") == root
    assert account("no-such-user-labctl") is None
    assert account("") is None


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Path]:
    """top/open (0755)/closed (0700)/file and top/open/file. pytest's own folders are closed to
    others when run as root, so the tree goes in /dev/shm (open to all) when there is one."""
    shm = Path("/dev/shm")
    top = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() and os.access(shm, os.W_OK) else tmp_path
    top.chmod(0o755)
    yield from _populate(top)
    if top != tmp_path:
        shutil.rmtree(top)


def _populate(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "open" / "closed").mkdir(parents=True)
    (tmp_path / "open").chmod(0o755)
    (tmp_path / "open" / "closed").chmod(0o700)
    (tmp_path / "open" / "closed" / "file").write_text("")
    (tmp_path / "open" / "file").write_text("")
    yield tmp_path


def reachable_tmp(path: Path) -> bool:
    return not blocking_folders([path / "x"], NOBODY)


def test_a_closed_folder_blocks_others_but_not_root(tree: Path) -> None:
    if not reachable_tmp(tree):
        pytest.skip("the temporary folder's parents are closed to others here")
    closed = tree / "open" / "closed"
    assert blocking_folders([closed / "file", tree / "open" / "file"], NOBODY) == [str(closed)]
    assert blocking_folders([tree / "open" / "file"], NOBODY) == []
    assert blocking_folders([closed / "file"], ROOT) == []


def test_owner_and_group_bits_count_for_their_user(tree: Path) -> None:
    if not reachable_tmp(tree):
        pytest.skip("the temporary folder's parents are closed to others here")
    closed = tree / "open" / "closed"
    if os.geteuid() == 0:
        os.chown(closed, 12345, -1)
    owner = Account("owner", closed.stat().st_uid, frozenset())
    if owner.uid != 0:
        assert blocking_folders([closed / "file"], owner) == []
    closed.chmod(0o610)
    member = Account("member", 54321, frozenset({closed.stat().st_gid}))
    assert blocking_folders([closed / "file"], member) == []
    assert blocking_folders([closed / "file"], NOBODY) == [str(closed)]


def test_a_missing_folder_blocks(tree: Path) -> None:
    missing = tree / "gone" / "file"
    assert blocking_folders([missing], ROOT) == [str(tree / "gone")]


def test_roots_home_blocks_libvirt_qemu_on_this_host() -> None:
    """The measured reason QEMU runs as root here: the image cache and the lab state are in /root."""
    home = Path("/root")
    qemu = account(DEFAULT_QEMU_USER)
    if qemu is None or not home.exists() or home.stat().st_mode & 0o001:
        pytest.skip("no libvirt-qemu user, or /root lets others through")
    assert blocking_folders([home / ".cache" / "labctl" / "x"], qemu) == [str(home)]
