"""Save a running lab as a bundle and replay it, for real: with the image and an empty image cache
(so the replay boots the bundle's own image), without the image and an empty image cache (so the
replay rebuilds it with mmdebstrap from the bundled recipe and compares its packages with the
lock), and without the image (the cache's, its lock matching). A replay runs the bundled demo and
must find every saved verdict again; a bundle whose saved verdicts were doctored is the negative
control: the replay names the change, exit 1."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from labctl.bundle import extract_bundle, read_index
from labctl.paths import cache_dir
from labctl.service.bundles import CACHED, CACHED_DIFFERS, REBUILT
from tests.bundles import rewritten
from tests.integration.lab import ROOT, labctl, leftovers, plan_of, running_lab, write_topology

TOPOLOGY = """\
format: 1
name: keep
description: a lab saved and replayed
domain: keep.lab
defaults: {memory: 256}
nodes:
  a: {}
  r: {roles: [router]}
  b: {}
links:
  - [a, r]
  - [r, b]
demo: keep-demo.yaml
"""
DEMO = """\
format: 1
name: keep-demo
checks:
  - ping_by_name: {timeout: 120}
"""
HAND_MADE = "written-by-hand-before-save"
EMPTY_CACHE = Path("/var/cache/labctl-replay-test")  # QEMU's own user must reach the images (not /tmp)


@contextlib.contextmanager
def empty_image_cache(*kept: str) -> Iterator[Path]:
    """An XDG_CACHE_HOME whose image cache is empty, holding a copy of the `kept` folders of the
    normal cache (apt's downloads, the compiled FreeSWITCH: inputs of an image build, not images)."""
    shutil.rmtree(EMPTY_CACHE, ignore_errors=True)
    EMPTY_CACHE.mkdir(mode=0o755)
    try:
        for folder in kept:
            if (cache_dir() / folder).is_dir():
                shutil.copytree(cache_dir() / folder, EMPTY_CACHE / "labctl" / folder, symlinks=True)
        yield EMPTY_CACHE
    finally:
        shutil.rmtree(EMPTY_CACHE, ignore_errors=True)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("bundles")
    (folder / "keep-demo.yaml").write_text(DEMO)
    topology = write_topology(folder, "keep", TOPOLOGY)
    with running_lab(topology) as (plan, up):
        assert up.returncode == 0, f"{up.stdout}\n{up.stderr}"
        labctl("save", "keep", "--with-image", "-o", str(folder / "with-image.labctl"))
        labctl("save", "keep", "-o", str(folder / "plain.labctl"))
        labctl("exec", "keep/a", "--", "sh", "-c", f"echo {HAND_MADE} > /root/hand.txt")  # a change by hand
        labctl("save", "keep", "--with-disks", "-o", str(folder / "with-disks.labctl"))
        assert labctl("exec", "keep/a", "--", "cat", "/root/hand.txt").stdout.strip() == HAND_MADE  # thawed
    yield {"folder": folder, "plan": plan}


@contextlib.contextmanager
def served(folder: Path) -> Iterator[str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def replay(
    bundle: Path | str, name: str, env: dict[str, str] | None = None, inside: Callable[[], None] | None = None
) -> tuple[int, dict[str, Any]]:
    """Replay `bundle` as lab `name`, run `inside` while the lab is up, then take it down."""
    saved = dict(os.environ)
    os.environ.update(env or {})
    try:
        result = labctl("replay", str(bundle), "--name", name, "--json", check=False, timeout=1800)
        if inside is not None:
            inside()
    finally:
        os.environ.clear()
        os.environ.update(saved)
        labctl("down", name, check=False)
    assert result.stdout.strip(), result.stderr
    return result.returncode, json.loads(result.stdout)


def test_bundle_show_lists_the_saved_verdicts_and_the_image(bundles: dict[str, Any]) -> None:
    shown = json.loads(labctl("bundle", "show", str(bundles["folder"] / "with-image.labctl"), "--json").stdout)
    assert shown["lab"] == "keep" and shown["format"] == 2 and shown["demo"] == "topologies/keep-demo.yaml"
    assert [v["status"] for v in shown["verdicts"]] == ["pass"] * 3
    [(name, lock)] = shown["images"].items()
    assert lock["included"] and lock["packages"] > 100 and len(lock["qcow2_sha256"]) == 64
    plain = json.loads(labctl("bundle", "show", str(bundles["folder"] / "plain.labctl"), "--json").stdout)
    assert not plain["images"][name]["included"] and plain["bytes"] < 2**20


def test_a_bundle_with_its_image_replays_on_an_empty_image_cache(bundles: dict[str, Any]) -> None:
    with empty_image_cache() as cache:
        code, result = replay(bundles["folder"] / "with-image.labctl", "kept", {"XDG_CACHE_HOME": str(cache)})
        assert code == 0 and result["same"], result
        assert result["report"]["verdict"] == "pass" and result["changes"] == []
        assert list((cache / "labctl" / "images").iterdir()), "the bundle's image was not the one booted"
        assert set(result["image_sources"].values()) == {"from the bundle"}
    assert leftovers({**bundles["plan"], "lab": "kept"}) == []


def test_a_bundle_without_its_image_rebuilds_it_with_the_packages_of_its_lock(bundles: dict[str, Any]) -> None:
    """The image cache empty: the replay rebuilds the image with mmdebstrap from the bundled recipe,
    under the lock's input digest, and finds every package at the version its lock names (the
    FreeSWITCH compile and apt's downloads are kept: they are inputs, not the image)."""
    bundle = bundles["folder"] / "plain.labctl"
    [(name, lock)] = read_index(bundle).data["images"].items()
    folder = f"{name}-{lock['input_digest'][:12]}"
    with empty_image_cache("apt-archives", "freeswitch") as cache:
        start = time.time()
        code, result = replay(bundle, "rebuilt", {"XDG_CACHE_HOME": str(cache)})
        images = cache / "labctl" / "images"
        built = (images / folder / "manifest.json").stat().st_mtime - start
        print(f"replay with the image rebuilt: {time.time() - start:.0f} s, the image built after {built:.0f} s")
        assert sorted(p.name for p in images.iterdir() if not p.name.startswith(".")) == [folder]
        assert (images / folder / "build.log").read_text().startswith("$ mmdebstrap ")
        assert json.loads((images / folder / "manifest.json").read_text())["packages"] == lock["packages"]
    assert code == 0 and result["same"] and result["changes"] == [], result
    assert result["image_sources"] == {name: "rebuilt from the bundled recipe"}
    assert result["image_differences"] == {name: []}
    assert leftovers({**bundles["plan"], "lab": "rebuilt"}) == []


def test_a_replay_whose_verdicts_differ_from_the_saved_ones_fails_and_says_which(bundles: dict[str, Any]) -> None:
    """The bundle without its image (the replay boots the cached one, its lock matching, with no
    package difference), its saved verdict for one check turned to fail: the negative control of
    the comparison. Every other check has its saved verdict; this one is named, exit 1."""
    folder: Path = bundles["folder"]
    saved = read_index(folder / "plain.labctl").data["verdicts"]
    doctored = [{**saved[0], "status": "fail"}, *saved[1:]]
    rewritten(folder / "plain.labctl", folder / "doctored.labctl", folder, verdicts=doctored)
    with served(folder) as url:  # and replayed from a URL (a server on 127.0.0.1)
        code, result = replay(f"{url}/doctored.labctl", "kept2", inside=lambda: no_hand_made_file("kept2"))
    assert code == 1 and not result["same"] and result["image_differences"] == {}, result
    assert set(result["image_sources"].values()) == {"the cached one, identical to its lock"}
    assert result["report"]["verdict"] == "pass"
    [change] = result["changes"]
    assert (change["saved"], change["now"]) == ("fail", "pass")


def hand_made_file(lab: str) -> str:
    return labctl("exec", f"{lab}/a", "--", "cat", "/root/hand.txt", check=False).stdout.strip()


def no_hand_made_file(lab: str) -> None:
    """The negative control of --with-disks: a bundle saved before the change, without disks."""
    assert hand_made_file(lab) == ""


def test_a_bundle_with_disks_brings_back_a_change_made_by_hand(bundles: dict[str, Any]) -> None:
    shown = json.loads(labctl("bundle", "show", str(bundles["folder"] / "with-disks.labctl"), "--json").stdout)
    assert shown["disks"] == ["a", "b", "r"] and shown["secrets"]
    found: list[str] = []
    code, result = replay(
        bundles["folder"] / "with-disks.labctl", "kept3", inside=lambda: found.append(hand_made_file("kept3"))
    )
    assert code == 0 and result["same"], result
    assert found == [HAND_MADE]
    assert leftovers({**bundles["plan"], "lab": "kept3"}) == []


FIXTURE_V1 = ROOT / "tests" / "fixtures" / "bundle" / "v1-with-verdicts.labctl"


def test_the_format_1_fixture_bundle_still_replays_with_its_saved_verdicts(tmp_path: Path) -> None:
    """The record of format 1: ospf-dns (6 nodes), saved by labctl 0.1.0 at e0c5a11 from its running
    lab after its demo, with its image lock and 14 saved verdicts, without the image. Replayed under a
    new name with this labctl, from its own recipes: every check has its saved verdict (exit 0), the
    image's way is said and compared with the lock, and down leaves nothing."""
    shown = json.loads(labctl("bundle", "show", str(FIXTURE_V1), "--json").stdout)
    assert shown["format"] == 1 and len(shown["verdicts"]) == 14
    code, result = replay(FIXTURE_V1, "fixture-v1")
    assert code == 0 and result["same"] and result["changes"] == [], result
    assert result["report"]["verdict"] == "pass"
    [how] = result["image_sources"].values()  # years later, a rebuild whose packages differ is listed
    assert how in (CACHED, REBUILT, CACHED_DIFFERS) and set(result["image_differences"]) <= {"debian12-lab"}
    extract_bundle(FIXTURE_V1, tmp_path / "v1")
    assert leftovers({**plan_of(str(tmp_path / "v1" / shown["topology"])), "lab": "fixture-v1"}) == []
