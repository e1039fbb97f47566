"""The image cache: <cache>/images/<name>-<digest12>/, one folder per distinct set of inputs."""

from __future__ import annotations

import contextlib
import fcntl
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labctl.errors import LabctlError
from labctl.images import ImageArtifacts, Step
from labctl.images.build import build
from labctl.images.freeswitch_build import build_inputs, ensure_freeswitch
from labctl.images.freeswitch_source import HOW_TO_PROVIDE
from labctl.images.recipe import ImageRecipe, load_image_recipe
from labctl.paths import cache_dir
from labctl.suggest import did_you_mean
from labctl.topology.schema import LABEL

IMAGE_NAME_MAX = 64


def images_root() -> Path:
    return cache_dir() / "images"


def check_image_name(name: str) -> str:
    """Image names become folder names in the cache: the same rule as lab and node names."""
    if not LABEL.fullmatch(name) or len(name) > IMAGE_NAME_MAX:
        shown = repr(name if len(name) <= 40 else name[:40] + "...")
        raise LabctlError(
            f"invalid image name {shown}: a lowercase letter, then lowercase letters, digits or '-' "
            f"(at most {IMAGE_NAME_MAX})"
        )
    return name


def _folder(recipe: ImageRecipe) -> Path:
    return _digest_folder(recipe.name, recipe.digest())


def _digest_folder(name: str, digest: str) -> Path:
    return images_root() / f"{check_image_name(name)}-{digest[:12]}"


def _remove(folder: Path) -> None:
    """rmtree, only for a folder strictly inside the image cache."""
    root = images_root().resolve()
    if folder.is_symlink() or folder.resolve().parent != root:
        raise LabctlError(f"refusing to remove {folder}: it is not an image folder in {root}")
    shutil.rmtree(folder)


@contextlib.contextmanager
def _build_lock(wait: bool) -> Iterator[None]:
    images_root().mkdir(parents=True, exist_ok=True)
    with open(images_root() / ".build.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise LabctlError("an image is being built right now; try again when it is done") from None
        yield


def _manifest(folder: Path) -> dict[str, Any] | None:
    """The folder's manifest, or None when it is damaged (unreadable, not JSON, fields missing or odd)."""
    try:
        data = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    fields = ("name", "input_digest", "built")
    if not isinstance(data, dict) or not all(isinstance(data.get(f), str) for f in fields):
        return None
    if not LABEL.fullmatch(data["name"]) or len(data["name"]) > IMAGE_NAME_MAX:
        return None
    return data


def _artifacts(name: str, folder: Path) -> ImageArtifacts:
    manifest = _manifest(folder)
    if manifest is None:
        raise LabctlError(
            f"the cached image {folder} is damaged (its manifest.json); `labctl image rm {name}` removes it"
        )
    return ImageArtifacts(
        name=name,
        digest=manifest["input_digest"],
        disk=folder / "disk.qcow2",
        kernel=folder / "vmlinuz",
        initrd=folder / "initrd.img",
        manifest=folder / "manifest.json",
    )


def ensure_image(name: str, step: Step, rebuild: bool = False) -> tuple[ImageArtifacts, bool]:
    """(artifacts, built_now): build only when the inputs changed or `rebuild` asks."""
    recipe = load_image_recipe(check_image_name(name))
    folder = _folder(recipe)
    with _build_lock(wait=True):
        if (folder / "manifest.json").exists() and not rebuild:
            return _artifacts(name, folder), False
        work = folder.with_name(folder.name + ".partial")
        if work.exists():
            _remove(work)
        work.mkdir(parents=True)
        source = recipe.freeswitch_source
        if recipe.freeswitch is not None and source is None:
            step(f"building without FreeSWITCH: to include it, {HOW_TO_PROVIDE}")
        if source is not None and source.kind == "source":
            ensure_freeswitch(build_inputs(recipe), cache_dir() / "apt-archives", step)
        try:
            build(recipe, work, cache_dir() / "apt-archives", step)
        except BaseException:
            shutil.rmtree(work / "tree", ignore_errors=True)
            (work / "root.raw").unlink(missing_ok=True)
            raise
        if folder.exists():
            _remove(folder)
        work.rename(folder)
        return _artifacts(name, folder), True


def cached(name: str, digest: str) -> ImageArtifacts | None:
    """The cached image built from exactly these inputs (`digest`), if there is one."""
    folder = _digest_folder(name, digest)
    manifest = _manifest(folder)
    if manifest is None or manifest["input_digest"] != digest:
        return None
    return _artifacts(name, folder)


IMAGE_FILES = ("disk.qcow2", "vmlinuz", "initrd.img", "manifest.json")
"""What an image is, as files of its cache folder (and of a bundle's images/<name>/)."""


def install_image(name: str, digest: str, files: dict[str, Path]) -> ImageArtifacts:
    """Put an image made elsewhere (a bundle's, already verified) into the cache under its input
    digest: hard links when the file system allows, copies otherwise; all or nothing."""
    folder = _digest_folder(name, digest)
    with _build_lock(wait=True):
        work = folder.with_name(folder.name + ".partial")
        if work.exists():
            _remove(work)
        work.mkdir(parents=True)
        try:
            for member in IMAGE_FILES:
                try:
                    (work / member).hardlink_to(files[member])
                except OSError:
                    shutil.copyfile(files[member], work / member)
                (work / member).chmod(0o644)  # QEMU's own user reads the image
        except BaseException:
            _remove(work)
            raise
        if folder.exists():
            _remove(folder)
        work.rename(folder)
    artifacts = _artifacts(name, folder)
    if artifacts.digest != digest:
        raise LabctlError(f"the image {name} to install says it was built from inputs {artifacts.digest[:12]}")
    return artifacts


@dataclass(frozen=True)
class CachedImage:
    name: str
    digest: str
    folder: Path
    size_bytes: int
    built: str
    current: bool  # matches the recipe's inputs today
    damaged: bool = False  # its manifest cannot be read: listed (named after its folder) so rm can remove it
    freeswitch: tuple[str, ...] = ()  # "<source> <commit>" of a FreeSWITCH compiled from source, in build order


def freeswitch_commits(manifest: dict[str, Any]) -> tuple[str, ...]:
    """The source commits an image manifest records for its FreeSWITCH (none when it has none or no sources)."""
    record = manifest.get("freeswitch")
    sources = record.get("sources") if isinstance(record, dict) else None
    if not isinstance(sources, list):
        return ()
    return tuple(
        f"{s['name']} {s['commit']}"
        for s in sources
        if isinstance(s, dict) and isinstance(s.get("name"), str) and isinstance(s.get("commit"), str)
    )


def list_images() -> list[CachedImage]:
    result = []
    for manifest_path in sorted(images_root().glob("*/manifest.json")) if images_root().exists() else []:
        folder = manifest_path.parent
        size = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
        manifest = _manifest(folder)
        if manifest is None:
            name, _, digest = folder.name.rpartition("-")
            result.append(CachedImage(name or folder.name, digest if name else "", folder, size, "-", False, True))
            continue
        name = manifest["name"]
        try:
            current = _folder(load_image_recipe(name)) == folder
        except LabctlError:
            current = False
        result.append(
            CachedImage(
                name,
                manifest["input_digest"],
                folder,
                size,
                manifest["built"],
                current,
                False,
                freeswitch_commits(manifest),
            )
        )
    return result


def remove_images(name: str | None, stale_only: bool) -> list[Path]:
    """Remove cached builds (all, or `name`'s) and leftovers of failed builds; never a build in progress."""
    if name is not None:
        check_image_name(name)
    removed = []
    with _build_lock(wait=False):
        images = list_images()
        partials = sorted(images_root().glob(f"{name or ''}*.partial"))
        partials = [p for p in partials if name is None or p.name.rsplit("-", 1)[0] == name]
        if name is not None and not partials and name not in {i.name for i in images}:
            known = sorted({i.name for i in images})
            hint = did_you_mean(name, known) or (f" (cached: {', '.join(known)})" if known else " (the cache is empty)")
            raise LabctlError(f"no cached image named '{name}'{hint}")
        for image in images:
            if (name is None or image.name == name) and not (stale_only and image.current):
                _remove(image.folder)
                removed.append(image.folder)
        for partial in partials:
            _remove(partial)
            removed.append(partial)
    return removed
