"""labctl.images.build: the mmdebstrap command line for the three FreeSWITCH cases (no source, a
SignalWire token, local .debs), checked without running mmdebstrap; the host-side hooks are run in
a shell against a scratch tree, and the manifest's record of FreeSWITCH."""

from __future__ import annotations

import dataclasses
import os
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from labctl.errors import LabctlError
from labctl.images.build import (
    FREESWITCH_AUTH,
    FREESWITCH_DEBS_IN_TREE,
    FREESWITCH_KEYRING,
    FREESWITCH_LIST,
    freeswitch_manifest,
    mmdebstrap_argv,
    mmdebstrap_env,
)
from labctl.images.recipe import DEBS_VAR, TOKEN_VAR, ImageRecipe, load_image_recipe

TOKEN = "pat_not-a-real-token-0123456789"
TREE, CACHE = Path("/work/tree"), Path("/cache/apt-archives")


def argv(recipe: ImageRecipe) -> list[str]:
    return mmdebstrap_argv(recipe, TREE, CACHE)


def hooks(recipe: ImageRecipe) -> list[str]:
    return [a.removeprefix("--customize-hook=") for a in argv(recipe) if a.startswith("--customize-hook=")]


def run_hook(hook: str, tree: Path, env: dict[str, str] | None = None) -> None:
    """Run a customize hook as mmdebstrap does: sh -c with the tree as "$1"."""
    subprocess.run(["sh", "-c", hook, "hook", str(tree)], check=True, env={"PATH": "/usr/bin:/bin", **(env or {})})


def addon_hooks(recipe: ImageRecipe) -> list[str]:
    """The hooks the add-on put in front of the usual ones."""
    usual = hooks(dataclasses.replace(recipe, freeswitch=None, freeswitch_source=None))
    every = hooks(recipe)
    assert every[0] == usual[0] and every[0].startswith("sync-out ")
    end = every.index(usual[1])
    unlike = [(a, b) for a, b in zip(every[end:], usual[1:], strict=True) if a != b]
    assert [b for _, b in unlike] == [disable_hook(dataclasses.replace(recipe, freeswitch_source=None))]
    return every[1:end]


def disable_hook(recipe: ImageRecipe) -> str:
    return next(h for h in hooks(recipe) if "systemctl disable" in h)


# -- no source: exactly today's build ----------------------------------------------------------
def test_without_a_source_the_command_is_the_one_from_before_addons(images: Path) -> None:
    recipe = load_image_recipe("lab", {})
    plain = dataclasses.replace(recipe, freeswitch=None)
    assert argv(recipe) == argv(plain)
    assert not [a for a in argv(recipe) if "freeswitch" in a.lower() or "signalwire" in a.lower()]
    assert mmdebstrap_env(recipe) == {"SOURCE_DATE_EPOCH": "1700000000"}
    assert argv(recipe)[-3:] == ["bookworm", str(TREE), "http://deb.debian.org/debian"]


# -- a SignalWire token ------------------------------------------------------------------------
@pytest.fixture
def token_recipe(images: Path) -> ImageRecipe:
    return load_image_recipe("lab", {TOKEN_VAR: TOKEN})


def test_the_token_reaches_mmdebstrap_only_through_its_environment(token_recipe: ImageRecipe) -> None:
    assert not [a for a in argv(token_recipe) if TOKEN in a]
    assert mmdebstrap_env(token_recipe) == {"SOURCE_DATE_EPOCH": "1700000000", TOKEN_VAR: TOKEN}
    assert any(f'"${TOKEN_VAR}"' in h for h in addon_hooks(token_recipe))


def test_signalwire_hooks_add_the_repository_install_and_clean_up(token_recipe: ImageRecipe) -> None:
    added = addon_hooks(token_recipe)
    assert token_recipe.freeswitch is not None
    keyring_url = token_recipe.freeswitch.keyring
    download = next(i for i, h in enumerate(added) if "apt-helper download-file" in h)
    assert added[download] == (f'chroot "$1" /usr/lib/apt/apt-helper download-file {keyring_url} {FREESWITCH_KEYRING}')
    auth = next(i for i, h in enumerate(added) if FREESWITCH_AUTH in h and "printf" in h)
    update = added.index('chroot "$1" apt-get update -q')
    install = next(i for i, h in enumerate(added) if "apt-get install" in h)
    assert auth < download < update < install < len(added) - 1
    assert added[install].split()[-len(token_recipe.freeswitch.packages) :] == list(token_recipe.freeswitch.packages)
    assert "--no-install-recommends" in added[install]
    assert added[-1] == f'rm -f "$1{FREESWITCH_AUTH}" "$1{FREESWITCH_LIST}" "$1{FREESWITCH_KEYRING}"'


def test_signalwire_host_side_hooks_write_a_private_auth_file_and_the_source(
    token_recipe: ImageRecipe, tmp_path: Path
) -> None:
    """Run every hook that does not chroot, in order, against a scratch tree."""
    tree = tmp_path / "tree"
    tree.mkdir()
    host_side = [h for h in addon_hooks(token_recipe) if "chroot" not in h]
    for hook in host_side[:-1]:
        if "chmod" in hook:
            (tree / FREESWITCH_KEYRING.lstrip("/")).write_bytes(b"key")  # what apt-helper would fetch
        run_hook(hook, tree, {TOKEN_VAR: TOKEN})
    auth = tree / FREESWITCH_AUTH.lstrip("/")
    assert auth.read_text() == f"machine freeswitch.signalwire.com login signalwire password {TOKEN}\n"
    assert stat.S_IMODE(auth.stat().st_mode) == 0o600
    assert stat.S_IMODE((tree / FREESWITCH_KEYRING.lstrip("/")).stat().st_mode) == 0o644
    assert (tree / FREESWITCH_LIST.lstrip("/")).read_text() == (
        f"deb [signed-by={FREESWITCH_KEYRING}] https://freeswitch.signalwire.com/repo/deb/debian-release/"
        " bookworm main\n"
    )
    run_hook(host_side[-1], tree)
    assert not auth.exists() and not (tree / FREESWITCH_LIST.lstrip("/")).exists()
    assert not (tree / FREESWITCH_KEYRING.lstrip("/")).exists()


def test_signalwire_follows_a_pinned_suite(images: Path) -> None:
    recipe = dataclasses.replace(load_image_recipe("lab", {TOKEN_VAR: TOKEN}), suite="trixie")
    assert any(" trixie main" in h for h in addon_hooks(recipe))


# -- local .debs -------------------------------------------------------------------------------
@pytest.fixture
def debs_recipe(images: Path, debs: Callable[..., Path]) -> ImageRecipe:
    folder = debs({"freeswitch_1.10.12_amd64.deb": "fs", "freeswitch mod sofia.deb": "sofia"})
    return load_image_recipe("lab", {DEBS_VAR: str(folder)})


def test_local_debs_are_copied_in_installed_with_apt_and_removed(debs_recipe: ImageRecipe, tmp_path: Path) -> None:
    added = addon_hooks(debs_recipe)
    assert mmdebstrap_env(debs_recipe) == {"SOURCE_DATE_EPOCH": "1700000000"}
    assert not [h for h in added if "signalwire" in h or "apt-get update" in h]
    install = next(h for h in added if "apt-get install" in h)
    assert install.endswith(
        f"--no-install-recommends '{FREESWITCH_DEBS_IN_TREE}/freeswitch mod sofia.deb'"
        f" {FREESWITCH_DEBS_IN_TREE}/freeswitch_1.10.12_amd64.deb"
    )
    assert install.startswith('chroot "$1" ')
    tree = tmp_path / "tree"
    tree.mkdir()
    for hook in [h for h in added if "chroot" not in h][:-1]:
        run_hook(hook, tree)
    copied = tree / FREESWITCH_DEBS_IN_TREE.lstrip("/")
    assert sorted(p.name for p in copied.iterdir()) == ["freeswitch mod sofia.deb", "freeswitch_1.10.12_amd64.deb"]
    assert (copied / "freeswitch mod sofia.deb").read_text() == "sofia"
    run_hook(added[-1], tree)
    assert not copied.exists()


# -- every source: the service is disabled at boot ---------------------------------------------
@pytest.mark.parametrize("source", ["token", "debs"])
def test_freeswitch_is_disabled_at_boot_after_it_is_installed(
    source: str, token_recipe: ImageRecipe, debs_recipe: ImageRecipe
) -> None:
    recipe = token_recipe if source == "token" else debs_recipe
    every = hooks(recipe)
    disable = disable_hook(recipe)
    # the roles' services, sorted (labctl.roles), then the add-on's
    assert disable.split(" do ")[0].split() == ["for", "s", "in", "bird", "kamailio", "named", "slapd", "freeswitch;"]
    last_install = max(i for i, h in enumerate(every) if "apt-get install" in h)
    assert every.index(disable) > last_install
    assert every.index(disable) < every.index('rm -rf "$1/var/lib/apt/lists/"* "$1/var/cache/apt/"*.bin')


def test_without_a_source_freeswitch_is_not_named_at_all(images: Path) -> None:
    assert "freeswitch" not in disable_hook(load_image_recipe("lab", {}))


# -- the manifest ------------------------------------------------------------------------------
def test_the_manifest_says_whether_and_whence(
    images: Path, token_recipe: ImageRecipe, debs_recipe: ImageRecipe, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    assert freeswitch_manifest(load_image_recipe("lab", {}), tree) == {"included": False}
    with pytest.raises(LabctlError, match="installed no /usr/bin/freeswitch"):
        freeswitch_manifest(debs_recipe, tree)
    (tree / "usr" / "bin").mkdir(parents=True)
    (tree / "usr" / "bin" / "freeswitch").write_text("")
    assert freeswitch_manifest(token_recipe, tree) == {
        "included": True,
        "source": "signalwire",
        "debs": [],
        "repository": "https://freeswitch.signalwire.com/repo/deb/debian-release/",
    }
    local = freeswitch_manifest(debs_recipe, tree)
    assert local["included"] is True and local["source"] == "local-debs"
    assert [d["name"] for d in local["debs"]] == ["freeswitch mod sofia.deb", "freeswitch_1.10.12_amd64.deb"]
    assert TOKEN not in repr(freeswitch_manifest(token_recipe, tree))


# -- root's password -----------------------------------------------------------------------------
def run_root_hooks(recipe: ImageRecipe, tree: Path, tmp_path: Path) -> None:
    """Run the hooks that touch root's login against a scratch tree; `chroot "$1" passwd ...` runs
    the host's passwd with --root on that tree, which is what it does in the real chroot."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "chroot").write_text(
        '#!/bin/sh\ntree=$1; shift; [ "$1" = passwd ] && shift; exec passwd --root "$tree" "$@"\n'
    )
    (fake / "chroot").chmod(0o755)
    for hook in hooks(recipe):
        if "passwd" in hook or "getty" in hook:
            run_hook(hook, tree, env={"PATH": f"{fake}:/usr/sbin:/usr/bin:/sbin:/bin"})


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("passwd") is None, reason="passwd --root needs root")
@pytest.mark.parametrize("before", ["root::19000:0:99999:7:::", "root:*:19000:0:99999:7:::"])
def test_the_image_locks_root_and_keeps_the_serial_autologin(images: Path, tmp_path: Path, before: str) -> None:
    tree = tmp_path / "tree"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (tree / "etc" / "shadow").write_text(before + "\n")
    run_root_hooks(load_image_recipe("lab", {}), tree, tmp_path)
    password = (tree / "etc" / "shadow").read_text().split(":")[1]
    assert password.startswith("!"), f"root's password is {password!r}, not locked"
    getty = tree / "etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf"
    assert "--autologin root" in getty.read_text()


def test_no_hook_empties_root_password(images: Path) -> None:
    assert not [h for h in hooks(load_image_recipe("lab", {})) if "passwd -d" in h or "passwd --delete" in h]
