"""A FreeSWITCH compiled from source in the image: the mmdebstrap command installs its runtime packages
and the cached result, adds the user and the commands on PATH, and proves the binaries' libraries are
there; the manifest records the source commits; the image cache compiles first, only for this source."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from labctl.errors import LabctlError
from labctl.images import cache
from labctl.images.build import freeswitch_manifest, mmdebstrap_argv
from labctl.images.freeswitch_build import RESULT, result_folder
from labctl.images.freeswitch_source import HOW_TO_PROVIDE, Tarball
from labctl.images.recipe import FreeswitchSource, ImageRecipe, load_image_recipe
from tests.unit.images.test_build import hooks, run_hook


@pytest.fixture
def source_recipe(images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ImageRecipe:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    recipe = load_image_recipe("lab", {})
    assert recipe.freeswitch is not None and recipe.freeswitch.build is not None
    tarballs = tuple(
        Tarball(u, tmp_path / f"{u.name}.tar.xz", f"{i}" * 64) for i, u in enumerate(recipe.freeswitch.build.sources)
    )
    return dataclasses.replace(recipe, freeswitch_source=FreeswitchSource("source", tarballs=tarballs))


def added_hooks(recipe: ImageRecipe) -> list[str]:
    usual = hooks(dataclasses.replace(recipe, freeswitch_source=None))
    every = hooks(recipe)
    return every[1 : every.index(usual[1])]


def test_the_image_installs_the_runtime_packages_and_the_cached_result(source_recipe: ImageRecipe) -> None:
    assert source_recipe.freeswitch is not None and source_recipe.freeswitch.build is not None
    argv = mmdebstrap_argv(source_recipe, Path("/tree"), Path("/apt"))
    include = next(a for a in argv if a.startswith("--include=")).removeprefix("--include=").split(",")
    assert include[-len(source_recipe.freeswitch.build.runtime_packages) :] == list(
        source_recipe.freeswitch.build.runtime_packages
    )
    result = result_folder(source_recipe.freeswitch_build_digest()) / RESULT
    added = added_hooks(source_recipe)
    assert added[0] == f'tar --zstd -xf {result} -C "$1"'
    assert 'chroot "$1" ldconfig' in added
    assert any("useradd --system --user-group" in h and h.endswith("freeswitch'") for h in added)
    assert 'ln -sf /usr/local/freeswitch/bin/fs_cli "$1/usr/bin/fs_cli"' in added
    assert any("ldd /usr/local/freeswitch/bin/freeswitch" in h and "not found" in h for h in added)
    assert added[-1] == 'chroot "$1" /usr/bin/freeswitch -version'
    signalwire = dataclasses.replace(source_recipe, freeswitch_source=FreeswitchSource("signalwire", token="t"))
    assert "freeswitch.tar.zst" not in " ".join(mmdebstrap_argv(signalwire, Path("/tree"), Path("/apt")))


def test_host_hooks_unpack_the_result_and_link_the_commands(source_recipe: ImageRecipe, tmp_path: Path) -> None:
    result = result_folder(source_recipe.freeswitch_build_digest()) / RESULT
    result.parent.mkdir(parents=True)
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as archive:
        info = tarfile.TarInfo("usr/local/freeswitch/bin/freeswitch")
        info.size, info.mode = 3, 0o755
        archive.addfile(info, io.BytesIO(b"elf"))
    result.write_bytes(subprocess.run(["zstd", "-c"], input=data.getvalue(), capture_output=True, check=True).stdout)
    tree = tmp_path / "tree"
    (tree / "usr/bin").mkdir(parents=True)
    for hook in added_hooks(source_recipe):
        if "chroot" not in hook:
            run_hook(hook, tree)
    assert (tree / "usr/local/freeswitch/bin/freeswitch").read_bytes() == b"elf"
    assert (tree / "usr/bin/freeswitch").readlink() == Path("/usr/local/freeswitch/bin/freeswitch")


def test_the_manifest_records_the_source_commits(source_recipe: ImageRecipe, tmp_path: Path) -> None:
    with pytest.raises(LabctlError, match=r"the FreeSWITCH add-on \(source\) installed no /usr/bin/freeswitch"):
        freeswitch_manifest(source_recipe, tmp_path)
    (tmp_path / "usr/bin").mkdir(parents=True)
    (tmp_path / "usr/bin/freeswitch").symlink_to("/usr/local/freeswitch/bin/freeswitch")  # as the hook links it
    with pytest.raises(LabctlError, match="installed no /usr/bin/freeswitch"):  # a dangling link in the tree
        freeswitch_manifest(source_recipe, tmp_path)
    (tmp_path / "usr/local/freeswitch/bin").mkdir(parents=True)
    (tmp_path / "usr/local/freeswitch/bin/freeswitch").write_text("")  # not on the host: the host has none
    assert not Path("/usr/local/freeswitch/bin/freeswitch").exists()
    record = freeswitch_manifest(source_recipe, tmp_path)
    assert record["included"] is True and record["source"] == "source"
    assert [(s["name"], s["commit"][:7]) for s in record["sources"]] == [
        ("spandsp", "0c7bceb"),
        ("sofia-sip", "7333682"),
        ("freeswitch", "c2c5964"),
    ]
    assert record["build_digest"] == source_recipe.freeswitch_build_digest()


def test_the_image_cache_compiles_freeswitch_first_only_for_a_source_build(
    source_recipe: ImageRecipe, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(cache, "ensure_freeswitch", lambda inputs, *a: calls.append(f"compile {inputs.digest[:6]}"))

    def build(recipe: ImageRecipe, work: Path, *a: Any) -> None:
        calls.append("image")
        (work / "manifest.json").write_text('{"name": "lab", "input_digest": "x", "built": "now"}')

    monkeypatch.setattr(cache, "build", build)
    steps: list[str] = []
    for recipe in (source_recipe, dataclasses.replace(source_recipe, freeswitch_source=None)):
        monkeypatch.setattr(cache, "load_image_recipe", lambda name, r=recipe: r)
        cache.ensure_image("lab", steps.append, rebuild=True)
    assert calls == [f"compile {source_recipe.freeswitch_build_digest()[:6]}", "image", "image"]
    assert steps == [f"building without FreeSWITCH: to include it, {HOW_TO_PROVIDE}"]
    assert HOW_TO_PROVIDE.startswith("set LABCTL_FREESWITCH_SRC=/dir (a folder of `git archive` tarballs")


def test_the_image_list_shows_the_freeswitch_commits(
    images: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    sources = [{"name": n, "git": "g", "commit": c * 40} for n, c in (("spandsp", "a"), ("freeswitch", "b"))]
    for folder, freeswitch in (
        ("lab-111111111111", {"included": True, "source": "source", "sources": sources}),
        ("lab-222222222222", {"included": False}),
        ("lab-333333333333", {"included": True, "sources": "garbage"}),
    ):
        (cache.images_root() / folder).mkdir(parents=True)
        manifest = {"name": "lab", "input_digest": folder[4:], "built": "x", "freeswitch": freeswitch}
        (cache.images_root() / folder / "manifest.json").write_text(json.dumps(manifest))
    listed = {i.digest: i.freeswitch for i in cache.list_images()}
    assert listed == {
        "111111111111": (f"spandsp {'a' * 40}", f"freeswitch {'b' * 40}"),
        "222222222222": (),
        "333333333333": (),
    }
