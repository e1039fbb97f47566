"""Node images: build what is missing, list and remove the cache."""

from __future__ import annotations

from pathlib import Path

from labctl.backends.libvirt import template
from labctl.images import ImageArtifacts, cache
from labctl.images.cache import CachedImage, ensure_image, list_images
from labctl.service.events import QUIET, Listener

__all__ = ["CachedImage", "ImageArtifacts", "build_image", "build_images", "list_images", "remove_images"]


def build_image(name: str, listener: Listener = QUIET, rebuild: bool = False) -> ImageArtifacts:
    """The image's cached build, built first when its inputs changed (or `rebuild`)."""
    with listener.live(f"building image {name}"):
        artifacts, built = ensure_image(name, listener.step, rebuild=rebuild)
    if built:
        listener.phase(f"image {name} built ({artifacts.disk.stat().st_size / 2**20:.0f} MiB qcow2)")
    return artifacts


def build_images(names: set[str], listener: Listener = QUIET) -> dict[str, ImageArtifacts]:
    return {name: build_image(name, listener) for name in sorted(names)}


def remove_images(name: str | None, stale_only: bool) -> list[Path]:
    """Remove cached builds (all, or `name`'s, or the stale ones) and the booted templates of images
    no longer cached; what was removed."""
    removed = cache.remove_images(name, stale_only)
    return removed + template.remove_orphans({image.digest for image in list_images()})
