"""The image cache: <cache>/images/<name>-<digest12>/, one folder per distinct set of inputs."""

from __future__ import annotations

import fcntl
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from labctl.errors import LabctlError
from labctl.images import ImageArtifacts
from labctl.images.build import Step, build
from labctl.images.recipe import ImageRecipe, load_image_recipe
from labctl.paths import cache_dir


def images_root() -> Path:
    return cache_dir() / "images"


def _folder(recipe: ImageRecipe) -> Path:
    return images_root() / f"{recipe.name}-{recipe.digest()[:12]}"


def _artifacts(name: str, folder: Path) -> ImageArtifacts:
    manifest = json.loads((folder / "manifest.json").read_text())
    return ImageArtifacts(
        name=name,
        digest=manifest["input_digest"],
        disk=folder / "disk.qcow2",
        kernel=folder / "vmlinuz",
        initrd=folder / "initrd.img",
        manifest=folder / "manifest.json",
    )


def find_image(name: str) -> ImageArtifacts | None:
    """The cached build of the recipe's current inputs, if any."""
    folder = _folder(load_image_recipe(name))
    return _artifacts(name, folder) if (folder / "manifest.json").exists() else None


def ensure_image(name: str, step: Step, rebuild: bool = False) -> tuple[ImageArtifacts, bool]:
    """(artifacts, built_now): build only when the inputs changed or `rebuild` asks."""
    recipe = load_image_recipe(name)
    folder = _folder(recipe)
    images_root().mkdir(parents=True, exist_ok=True)
    with open(images_root() / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (folder / "manifest.json").exists() and not rebuild:
            return _artifacts(name, folder), False
        work = folder.with_name(folder.name + ".partial")
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            build(recipe, work, cache_dir() / "apt-archives", step)
        except BaseException:
            shutil.rmtree(work / "tree", ignore_errors=True)
            (work / "root.raw").unlink(missing_ok=True)
            raise
        shutil.rmtree(folder, ignore_errors=True)
        work.rename(folder)
        return _artifacts(name, folder), True


@dataclass(frozen=True)
class CachedImage:
    name: str
    digest: str
    folder: Path
    size_bytes: int
    built: str
    current: bool  # matches the recipe's inputs today


def list_images() -> list[CachedImage]:
    result = []
    for manifest_path in sorted(images_root().glob("*/manifest.json")) if images_root().exists() else []:
        folder = manifest_path.parent
        manifest = json.loads(manifest_path.read_text())
        name = manifest["name"]
        try:
            current = _folder(load_image_recipe(name)) == folder
        except LabctlError:
            current = False
        size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
        result.append(CachedImage(name, manifest["input_digest"], folder, size, manifest["built"], current))
    return result


def remove_images(name: str | None, stale_only: bool) -> list[Path]:
    removed = []
    for image in list_images():
        if (name is None or image.name == name) and not (stale_only and image.current):
            shutil.rmtree(image.folder)
            removed.append(image.folder)
    for partial in images_root().glob("*.partial") if images_root().exists() else []:
        shutil.rmtree(partial)
        removed.append(partial)
    return removed
