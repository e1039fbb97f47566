"""Image recipes (vm-recipes/images/<name>.yaml) and the digest of their inputs."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from labctl.errors import LabctlError, Problem, TopologyError
from labctl.paths import data_dir
from labctl.topology.suggest import did_you_mean, unknown
from labctl.topology.yamlsource import load_yaml

BUILDER_VERSION = 1
"""Bumped when the build steps change what they produce."""

REQUIRED = ("suite", "mirror", "kernel", "packages")
OPTIONAL = ("description", "snapshot", "components", "variant", "size_mib", "disable_services")


@dataclass(frozen=True)
class ImageRecipe:
    name: str
    description: str
    suite: str
    mirror: str
    snapshot: str | None
    components: tuple[str, ...]
    variant: str
    kernel: str
    size_mib: int
    packages: tuple[str, ...]
    disable_services: tuple[str, ...]

    def digest(self) -> str:
        """Hash of every input that shapes the image."""
        payload = json.dumps({"builder": BUILDER_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()

    def source(self) -> str:
        """The apt source mmdebstrap uses: the snapshot when one is pinned."""
        if self.snapshot:
            return f"http://snapshot.debian.org/archive/debian/{self.snapshot}/"
        return self.mirror


def images_dir() -> Path:
    return data_dir("vm-recipes") / "images"


def known_images() -> list[str]:
    return sorted(p.stem for p in images_dir().glob("*.yaml"))


def load_image_recipe(name: str) -> ImageRecipe:
    path = images_dir() / f"{name}.yaml"
    if not path.exists():
        raise LabctlError(f"no image recipe '{name}' in {images_dir()}{did_you_mean(name, known_images())}")
    doc = load_yaml(path)
    spec: dict[str, Any] = doc.value if isinstance(doc.value, dict) else {}
    problems = [
        Problem(path, doc.line((k,)), unknown("key in image recipe", k, REQUIRED + OPTIONAL))
        for k in spec
        if k not in REQUIRED + OPTIONAL
    ]
    problems += [Problem(path, 1, f"image recipe needs '{k}'") for k in REQUIRED if k not in spec]
    if problems:
        raise TopologyError(problems)
    return ImageRecipe(
        name=name,
        description=str(spec.get("description", "")),
        suite=str(spec["suite"]),
        mirror=str(spec["mirror"]),
        snapshot=str(spec["snapshot"]) if spec.get("snapshot") else None,
        components=tuple(spec.get("components") or ["main"]),
        variant=str(spec.get("variant", "apt")),
        kernel=str(spec["kernel"]),
        size_mib=int(spec.get("size_mib", 4096)),
        packages=tuple(str(p) for p in spec["packages"]),
        disable_services=tuple(spec.get("disable_services") or ()),
    )
