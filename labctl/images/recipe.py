"""Image recipes (vm-recipes/images/<name>.yaml) and the digest of their inputs.

An image installs its own packages plus every role's declared packages, and keeps its own
disable_services plus every role's declared services disabled (labctl.roles): sorted and
without duplicates, so the digest does not depend on the order they are declared in."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from labctl.errors import ImageRecipeError, LabctlError, Problem
from labctl.images.checksum import sha256_file
from labctl.images.freeswitch_source import (
    SRC_VAR,
    SourceBuild,
    Tarball,
    build_digest,
    fingerprint,
    locate,
    parse_build,
    script_text,
    source_folder,
)
from labctl.paths import data_dir
from labctl.roles import catalogue
from labctl.suggest import did_you_mean, is_unsafe_char, quoted, unknown
from labctl.topology.schema import RECIPE_NAME, RECIPE_NAME_RULE
from labctl.versions import FORMAT_KEY, Migration
from labctl.yamlsource import check_version, load_yaml

IMAGE_FORMAT = 1
"""The image recipe format this labctl reads (`format:` at the top; none means 1). Not in the digest:
it says how the file is read, and the fields it is read into are what shape the image."""
IMAGE_MIGRATIONS: dict[int, Migration] = {}
"""n -> the function that turns a format-n image recipe mapping into format n+1 (none yet)."""

BUILDER_VERSION = 5  # 5: root locked (issue 8 access); 3-4: busy-host hooks (device timeouts, agent without udev)
"""Bumped when the build steps change what they produce."""

REQUIRED = ("suite", "mirror", "kernel", "packages")
OPTIONAL = ("description", "extends", "snapshot", "components", "variant", "size_mib", "disable_services", "freeswitch")
ADDED_LISTS = ("packages", "disable_services")
"""What a recipe that `extends` another adds to that one's lists; every other key it sets replaces the other's."""
FREESWITCH_KEYS = ("repository", "keyring", "packages", "services")
FREESWITCH_OPTIONAL = ("build",)  # from source: freeswitch_source.SourceBuild
TOKEN_VAR = "LABCTL_SIGNALWIRE_TOKEN"
DEBS_VAR = "LABCTL_FREESWITCH_DEBS"


@dataclass(frozen=True)
class FreeswitchAddon:
    """How to add FreeSWITCH, which is in no Debian suite, when the build is given a source for it."""

    repository: str  # SignalWire's apt repository, used with a token
    keyring: str  # URL of the repository's signing key
    packages: tuple[str, ...]  # installed from the repository
    services: tuple[str, ...]  # disabled at boot: the freeswitch role starts FreeSWITCH itself
    build: SourceBuild | None = None  # how to compile it from source


@dataclass(frozen=True)
class FreeswitchSource:
    """Where this build takes FreeSWITCH from: SignalWire's repository, a folder of .deb files, or
    source tarballs compiled once per machine (freeswitch_build)."""

    kind: str  # "signalwire" | "local-debs" | "source"
    debs: tuple[tuple[Path, str], ...] = ()  # (file, sha256), sorted by file name
    tarballs: tuple[Tarball, ...] = ()  # kind "source", in build order
    token: str = field(default="", repr=False)  # never hashed, logged or written

    def fingerprint(self) -> dict[str, Any]:
        """What identifies the source in the input digest and the manifest: never the token."""
        if self.kind == "source":
            return {"source": self.kind, "sources": fingerprint(self.tarballs)}
        return {"source": self.kind, "debs": [{"name": path.name, "sha256": sha} for path, sha in self.debs]}


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
    freeswitch: FreeswitchAddon | None = None
    freeswitch_source: FreeswitchSource | None = None  # None: built without FreeSWITCH

    def freeswitch_active(self) -> FreeswitchAddon | None:
        """The add-on when this build includes FreeSWITCH."""
        return self.freeswitch if self.freeswitch_source is not None else None

    def digest(self) -> str:
        """Hash of every input that shapes the image; without a FreeSWITCH source, the same as before add-ons."""
        addon_fields = ("freeswitch", "freeswitch_source")
        payload: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in addon_fields}
        addon = self.freeswitch_active()
        if addon is not None and self.freeswitch_source is not None:
            payload["freeswitch"] = {**self.freeswitch_source.fingerprint(), "services": list(addon.services)}
            if self.freeswitch_source.kind == "signalwire":
                payload["freeswitch"].update(
                    repository=addon.repository, keyring=addon.keyring, packages=list(addon.packages)
                )
            if self.freeswitch_source.kind == "source":
                payload["freeswitch"]["build"] = self.freeswitch_build_digest()
        text = json.dumps({"builder": BUILDER_VERSION, **payload}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def freeswitch_build_digest(self) -> str:
        """The cache key of the compiled FreeSWITCH this build uses (kind "source" only)."""
        addon, source = self.freeswitch_active(), self.freeswitch_source
        if addon is None or addon.build is None or source is None or source.kind != "source":
            raise LabctlError(f"image {self.name} does not build FreeSWITCH from source")
        debian = {"suite": self.suite, "source": self.source(), "components": list(self.components)}
        return build_digest(addon.build, source.tarballs, debian, script_text())

    def source(self) -> str:
        """The apt source mmdebstrap uses: the snapshot when one is pinned."""
        if self.snapshot:
            return f"http://snapshot.debian.org/archive/debian/{self.snapshot}/"
        return self.mirror


def images_dir() -> Path:
    return data_dir("vm-recipes") / "images"


def known_images() -> list[str]:
    return sorted(p.stem for p in images_dir().glob("*.yaml"))


def freeswitch_source(env: Mapping[str, str], build: SourceBuild | None = None) -> FreeswitchSource | None:
    """The FreeSWITCH source the environment names, if any; else, when the recipe can build from
    source, the tarballs of the default folder (freeswitch_source.default_folder) if it exists."""
    named = [var for var in (TOKEN_VAR, DEBS_VAR, SRC_VAR) if env.get(var, "").strip()]
    if len(named) > 1:
        each = "not both" if len(named) == 2 else "only one"
        raise LabctlError(f"set {' or '.join(named)}, {each}: each is a source of FreeSWITCH for the image")
    if TOKEN_VAR in named:
        return FreeswitchSource("signalwire", token=env[TOKEN_VAR].strip())
    if DEBS_VAR in named:
        return _local_debs(env[DEBS_VAR].strip())
    if build is None:
        if named:
            raise LabctlError(f"{SRC_VAR} is set, but this image recipe has no 'freeswitch: build:' section")
        return None
    folder = source_folder(env)
    return FreeswitchSource("source", tarballs=locate(folder, build.sources)) if folder is not None else None


def _local_debs(debs_dir: str) -> FreeswitchSource:
    folder = Path(debs_dir).expanduser().resolve()
    debs = sorted(folder.glob("*.deb"), key=lambda p: p.name) if folder.is_dir() else []
    if not debs:
        raise LabctlError(f"{DEBS_VAR}={debs_dir}: no .deb files there (it should name a folder of FreeSWITCH .debs)")
    return FreeswitchSource("local-debs", debs=tuple((deb, sha256_file(deb)) for deb in debs))


def _freeswitch_addon(path: Path, line: int, spec: Any) -> FreeswitchAddon:
    if not isinstance(spec, dict):
        raise ImageRecipeError([Problem(path, line, "'freeswitch' is a mapping with " + ", ".join(FREESWITCH_KEYS))])
    problems = [
        Problem(path, line, unknown("key in 'freeswitch'", k, FREESWITCH_KEYS + FREESWITCH_OPTIONAL))
        for k in spec
        if k not in FREESWITCH_KEYS + FREESWITCH_OPTIONAL
    ]
    problems += [Problem(path, line, f"'freeswitch' needs '{k}'") for k in FREESWITCH_KEYS if k not in spec]
    build = parse_build(spec["build"]) if "build" in spec else None
    if isinstance(build, str):
        problems.append(Problem(path, line, build))
    if problems:
        raise ImageRecipeError(problems)
    assert not isinstance(build, str)
    return FreeswitchAddon(
        repository=str(spec["repository"]),
        keyring=str(spec["keyring"]),
        packages=tuple(str(p) for p in spec["packages"]),
        services=tuple(str(s) for s in spec["services"]),
        build=build,
    )


SIZE_MIB = (1024, 1 << 20)
TEXT_FIELDS = ("suite", "mirror", "kernel", "variant", "description", "snapshot")
LIST_FIELDS = ("packages", "components", "disable_services")


def load_image_recipe(name: str, env: Mapping[str, str] | None = None) -> ImageRecipe:
    """The recipe, with the FreeSWITCH source that `env` (the process environment by default) names."""
    path, line, spec = _load_spec(name, ())
    addon = _freeswitch_addon(path, line(("freeswitch",)), spec["freeswitch"]) if "freeswitch" in spec else None
    roles = catalogue(images_dir().parent)
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
        packages=tuple(sorted({*(str(p) for p in spec["packages"]), *roles.packages()})),
        disable_services=tuple(sorted({*(spec.get("disable_services") or ()), *roles.services()})),
        freeswitch=addon,
        freeswitch_source=(
            freeswitch_source(os.environ if env is None else env, addon.build) if addon is not None else None
        ),
    )


def _load_spec(name: str, seen: tuple[str, ...]) -> tuple[Path, Callable[[tuple[str, ...]], int], dict[str, Any]]:
    """The recipe's mapping, checked, with the recipe it `extends` folded in (`seen`: the recipes
    that extend this one, to refuse a loop)."""
    if not RECIPE_NAME.fullmatch(name):
        raise LabctlError(f"image name {quoted(name)} is not valid: {RECIPE_NAME_RULE}")
    path = images_dir() / f"{name}.yaml"
    if not path.exists():
        raise LabctlError(f"no image recipe '{name}' in {images_dir()}{did_you_mean(name, known_images())}")
    doc = check_version(load_yaml(path), "this image recipe", IMAGE_FORMAT, IMAGE_MIGRATIONS, ImageRecipeError)
    if not isinstance(doc.value, dict):
        raise ImageRecipeError([Problem(path, 1, "an image recipe is a mapping with " + ", ".join(REQUIRED))])
    spec: dict[str, Any] = dict(doc.value)
    allowed = (FORMAT_KEY, *REQUIRED, *OPTIONAL)
    problems = [
        Problem(path, doc.line((k,)), unknown("key in image recipe", k, allowed)) for k in spec if k not in allowed
    ]
    base = spec.pop("extends", None)
    if base is not None and (not isinstance(base, str) or not RECIPE_NAME.fullmatch(base)):
        problems.append(Problem(path, doc.line(("extends",)), f"'extends' names an image recipe: {RECIPE_NAME_RULE}"))
    elif base in (name, *seen):
        problems.append(Problem(path, doc.line(("extends",)), f"'extends: {base}' makes a loop of image recipes"))
    if not problems and base is not None:
        spec = _extended(_load_spec(base, (name, *seen))[2], spec)
    problems += [Problem(path, 1, f"image recipe needs '{k}'") for k in REQUIRED if k not in spec]
    problems += _type_problems(path, doc.line, spec)
    if problems:
        raise ImageRecipeError(problems)
    return path, doc.line, spec


def _extended(base: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """`spec` on top of the recipe it extends: its lists in ADDED_LISTS add to the base's, every
    other key it sets replaces the base's."""
    merged = {**base, **spec}
    for key in ADDED_LISTS:
        if isinstance(base.get(key), list) and isinstance(spec.get(key), list):
            merged[key] = [*base[key], *spec[key]]
    return merged


def _type_problems(path: Path, line: Callable[[tuple[str, ...]], int], spec: dict[str, Any]) -> list[Problem]:
    """Wrong types are refused here, with their line, rather than failing deep inside a build."""
    problems = []
    for key in TEXT_FIELDS:
        value = spec.get(key)
        if value is not None and (not isinstance(value, str) or any(is_unsafe_char(c) for c in value)):
            problems.append(Problem(path, line((key,)), f"'{key}' must be one line of text, not {quoted(value)}"))
    for key in LIST_FIELDS:
        value = spec.get(key)
        if value is not None and (
            not isinstance(value, list)
            or not all(isinstance(v, str) and v and not any(c.isspace() or is_unsafe_char(c) for c in v) for v in value)
        ):
            problems.append(Problem(path, line((key,)), f"'{key}' must be a list of names without spaces"))
    size = spec.get("size_mib", 4096)
    if isinstance(size, bool) or not isinstance(size, int) or not SIZE_MIB[0] <= size <= SIZE_MIB[1]:
        problems.append(
            Problem(path, line(("size_mib",)), f"'size_mib' must be a whole number from {SIZE_MIB[0]} to {SIZE_MIB[1]}")
        )
    return problems
