"""Recipes are data: vm-recipes/<role>/recipe.yaml plus Jinja2 templates beside it.

A manifest names the files to render (paths are templates too; `foreach` repeats an entry
over a list from the node's context), the commands that start the role, and a readiness probe.
What the role declares about itself (`after`, `skip`, ...) is read and checked by labctl.roles.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labctl.errors import LabctlError, Problem, RecipeError
from labctl.roles import BASE, catalogue, load_manifest
from labctl.roles import MANIFEST as MANIFEST
from labctl.roles import recipes_root as recipes_root
from labctl.suggest import did_you_mean, unknown

BASE_ROLE = BASE
FILE_KEYS = {"path", "template", "mode", "owner", "foreach"}
READY_KEYS = {"command", "timeout", "interval"}


@dataclass(frozen=True)
class FileTemplate:
    path: str  # a template itself
    template: str  # file name beside the manifest
    mode: str = "0644"
    owner: str = "root:root"
    foreach: str | None = None  # name of a list in the context; each item is `item`
    line: int = field(default=1, compare=False)  # of this entry in recipe.yaml, for errors


@dataclass(frozen=True)
class ReadyProbe:
    command: str
    timeout: float = 60.0
    interval: float = 1.0


@dataclass(frozen=True)
class Recipe:
    role: str
    description: str
    after: tuple[str, ...]
    files: tuple[FileTemplate, ...]
    commands: tuple[str, ...]
    ready: ReadyProbe | None
    skip_when: str | None  # a shell test run on the node; when it succeeds the role is skipped
    templates: dict[str, str]  # file name -> text
    folder: Path = field(default=Path(), compare=False)  # where recipe.yaml and the templates are
    lines: Mapping[str, int] = field(default_factory=dict, compare=False)  # "commands.0", "ready" -> line
    paths: Mapping[str, str] = field(default_factory=dict)  # the role's declared guest paths (`paths.x`)
    ports: Mapping[str, int] = field(default_factory=dict)  # and ports (`ports.x`)


def _check_keys(path: Path, line: int, found: dict[str, Any], allowed: set[str], what: str) -> None:
    for key in found:
        if key not in allowed:
            raise RecipeError([Problem(path, line, unknown(f"key in {what}", key, allowed))])


def load_recipe(role: str, root: Path | None = None) -> Recipe:
    roles = catalogue(root)
    declared = roles.base if role == BASE else roles.role(role) if role in roles else None
    folder = roles.root / role
    manifest = folder / MANIFEST
    if declared is None:
        raise LabctlError(f"no recipe for role '{role}' ({manifest} is missing){did_you_mean(role, roles.names())}")
    doc = load_manifest(manifest)
    spec = doc.value if isinstance(doc.value, dict) else {}
    files = []
    for i, raw in enumerate(spec.get("files") or []):
        line = doc.line(("files", i))
        if not isinstance(raw, dict) or not {"path", "template"} <= set(raw):
            raise RecipeError([Problem(manifest, line, "each recipe file is a mapping with 'path' and 'template'")])
        _check_keys(manifest, line, raw, FILE_KEYS, "recipe file")
        files.append(FileTemplate(**{k: str(v) for k, v in raw.items()}, line=line))
    ready = None
    if spec.get("ready"):
        line = doc.line(("ready",))
        if not isinstance(spec["ready"], dict) or "command" not in spec["ready"]:
            raise RecipeError([Problem(manifest, line, "the ready probe is a mapping with a 'command'")])
        _check_keys(manifest, line, spec["ready"], READY_KEYS, "ready probe")
        ready = ReadyProbe(**spec["ready"])
    templates = {}
    for f in files:
        if not (folder / f.template).is_file():
            message = f"recipe {role}: template {f.template} is missing ({folder / f.template})"
            raise RecipeError([Problem(manifest, f.line, message)])
        templates[f.template] = (folder / f.template).read_text()
    lines = {f"commands.{i}": doc.line(("commands", i)) for i in range(len(spec.get("commands") or ()))}
    lines.update({key: doc.line((key,)) for key in ("ready", "skip_when") if key in spec})
    return Recipe(
        role=role,
        description=declared.description,
        after=declared.after,
        files=tuple(files),
        commands=tuple(str(c) for c in spec.get("commands") or ()),
        ready=ready,
        skip_when=declared.skip.shell() if declared.skip else None,
        templates=templates,
        folder=folder,
        lines=lines,
        paths=declared.paths,
        ports=declared.ports,
    )


def load_recipes(roles: set[str], root: Path | None = None) -> dict[str, Recipe]:
    """The base recipe plus one per role (their `after` references are checked by the catalogue)."""
    return {role: load_recipe(role, root) for role in sorted(roles | {BASE_ROLE})}
