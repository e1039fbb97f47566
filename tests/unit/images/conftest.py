"""Image recipes in a throwaway LABCTL_HOME, and FreeSWITCH sources in the environment."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SHIPPED = REPO / "vm-recipes" / "images" / "debian12-lab.yaml"
DEBS = {"freeswitch_1.10.12_amd64.deb": "fs", "libfreeswitch1_1.10.12_amd64.deb": "lib"}


def without_addon(text: str) -> str:
    """The recipe as it was before add-ons: everything above the `freeswitch:` section."""
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("freeswitch:"))
    while start > 0 and lines[start - 1].startswith("#"):
        start -= 1
    return "".join(lines[:start])


@pytest.fixture
def images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """vm-recipes/ under a temporary LABCTL_HOME: the shipped roles (whose packages every image installs),
    and in images/ `lab`, the shipped recipe, and `plain`, without the add-on."""
    shutil.copytree(REPO / "vm-recipes", tmp_path / "home" / "vm-recipes", ignore=shutil.ignore_patterns("images"))
    folder = tmp_path / "home" / "vm-recipes" / "images"
    folder.mkdir()
    shutil.copyfile(SHIPPED, folder / "lab.yaml")
    (folder / "plain.yaml").write_text(without_addon(SHIPPED.read_text()))
    monkeypatch.setenv("LABCTL_HOME", str(tmp_path / "home"))
    return folder


@pytest.fixture
def debs(tmp_path: Path) -> Callable[..., Path]:
    """A folder of fake .deb files: name -> content."""

    def make(files: dict[str, str] | None = None, folder: str = "debs") -> Path:
        path = tmp_path / folder
        path.mkdir(exist_ok=True)
        for name, content in (files or DEBS).items():
            (path / name).write_text(content)
        return path

    return make
