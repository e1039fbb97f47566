"""labctl.images.cache: image names never lead outside the cache, and `image rm` removes only what it names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from labctl.errors import LabctlError
from labctl.images import cache
from labctl.images.cache import check_image_name, ensure_image, images_root, remove_images
from tests.unit.images.conftest import REPO

BAD = ["", ".", "..", "../x", "../../../tmp/x", "a/b", "/etc/x", "Lab", "a b", "lab\n", "x\0y", "x" * 65]


@pytest.fixture
def cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, images: Path) -> Path:
    """A cache with two built images (lab, other) and a partial build of each."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for name, digest in (("lab", "a" * 12), ("other", "b" * 12)):
        folder = images_root() / f"{name}-{digest}"
        folder.mkdir(parents=True)
        (folder / "manifest.json").write_text(json.dumps({"name": name, "input_digest": digest, "built": "x"}))
        (images_root() / f"{name}-{'c' * 12}.partial").mkdir()
    return images_root()


def contents(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if not p.name.startswith("."))


@pytest.mark.parametrize("name", BAD)
def test_an_image_name_that_is_not_a_label_is_refused_before_any_path_is_made(
    name: str, cached: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache, "build", lambda *a: pytest.fail("must not build"))
    (tmp_path / "x.yaml").write_text((REPO / "vm-recipes/images/debian12-lab.yaml").read_text())
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    for action in (
        lambda: check_image_name(name),
        lambda: ensure_image(name, lambda *a: None),
        lambda: remove_images(name, False),
    ):
        with pytest.raises(LabctlError, match="invalid image name"):
            action()
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before


def test_image_rm_of_a_name_removes_only_that_image_and_its_partial_build(cached: Path) -> None:
    removed = remove_images("lab", False)
    assert sorted(p.name for p in removed) == ["lab-aaaaaaaaaaaa", "lab-cccccccccccc.partial"]
    assert contents(cached) == ["other-bbbbbbbbbbbb", "other-cccccccccccc.partial"]


def test_image_rm_of_an_unknown_name_removes_nothing_and_says_so(cached: Path) -> None:
    with pytest.raises(LabctlError, match=r"no cached image named 'lbb' \(did you mean 'lab'\?\)"):
        remove_images("lbb", False)
    with pytest.raises(LabctlError, match=r"no cached image named 'zzz' \(cached: lab, other\)"):
        remove_images("zzz", False)
    assert len(contents(cached)) == 4


def test_image_rm_without_a_name_removes_everything(cached: Path) -> None:
    assert len(remove_images(None, False)) == 4
    assert contents(cached) == []


def test_image_rm_never_removes_a_build_in_progress(cached: Path) -> None:
    script = (
        "import fcntl, sys, time\n"
        "h = open(sys.argv[1], 'w'); fcntl.flock(h, fcntl.LOCK_EX); print('held', flush=True); time.sleep(30)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", script, str(cached / ".build.lock")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(LabctlError, match="an image is being built right now"):
            remove_images(None, False)
    finally:
        holder.kill()
        holder.wait()
    assert len(contents(cached)) == 4


def test_a_symlinked_image_folder_is_not_followed(cached: Path, tmp_path: Path) -> None:
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "manifest.json").write_text(json.dumps({"name": "evil", "input_digest": "d" * 12, "built": "x"}))
    (cached / "evil-dddddddddddd").symlink_to(outside)
    with pytest.raises(LabctlError, match="refusing to remove"):
        remove_images("evil", False)
    assert (outside / "manifest.json").exists()


DAMAGED_MANIFESTS = [
    b"{not json",
    b"[]",
    b"{}",
    b'{"name": "lab"}',
    b"\xff\xfe",
    b"",
    b'{"name": "../x", "input_digest": "a", "built": "x"}',
]


@pytest.mark.parametrize("text", DAMAGED_MANIFESTS)
def test_a_damaged_manifest_is_listed_as_damaged_and_rm_removes_it(cached: Path, text: bytes) -> None:
    (cached / "lab-aaaaaaaaaaaa" / "manifest.json").write_bytes(text)
    images = {i.folder.name: i for i in cache.list_images()}
    assert set(images) == {"lab-aaaaaaaaaaaa", "other-bbbbbbbbbbbb"}
    broken = images["lab-aaaaaaaaaaaa"]
    assert (broken.name, broken.digest, broken.damaged, broken.current) == ("lab", "aaaaaaaaaaaa", True, False)
    assert not images["other-bbbbbbbbbbbb"].damaged
    removed = remove_images("lab", True)  # damaged is never the current build: --stale removes it too
    assert sorted(p.name for p in removed) == ["lab-aaaaaaaaaaaa", "lab-cccccccccccc.partial"]
    assert contents(cached) == ["other-bbbbbbbbbbbb", "other-cccccccccccc.partial"]


def test_a_manifest_that_is_a_folder_is_damaged_too(cached: Path) -> None:
    (cached / "odd").mkdir()
    (cached / "odd" / "manifest.json").mkdir()
    odd = next(i for i in cache.list_images() if i.folder.name == "odd")
    assert (odd.name, odd.digest, odd.damaged) == ("odd", "", True)
    assert "odd" in [p.name for p in remove_images(None, False)]


def test_using_a_damaged_current_build_is_a_clear_error(cached: Path) -> None:
    from labctl.images.recipe import load_image_recipe

    folder = cache._folder(load_image_recipe("lab"))
    folder.mkdir()
    (folder / "manifest.json").write_text("{garbage")
    with pytest.raises(LabctlError, match=r"is damaged \(its manifest.json\); `labctl image rm lab` removes it"):
        ensure_image("lab", lambda _s: None)
