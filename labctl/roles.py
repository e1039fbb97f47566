"""The role catalogue: what each role declares about itself in vm-recipes/<role>/recipe.yaml.

A role's folder is its one home. Besides the steps the render stage reads (files, commands,
ready), its manifest declares what generic code needs to know about the role:

    format: 1                      # the recipe format it is written for (none: 1; labctl.versions)
    description: one line
    after: [ldap, router]          # roles whose nodes must be ready before this one starts
    requires:                      # what the role needs of the topology
      roles: [ldap]                #   some node of the lab has each of these roles
      sections: [sip]              #   the topology has these top-level sections
    provides: [sip-registrar]      # capabilities generic code asks for (not role names)
    packages: [kamailio]           # Debian packages the image installs for it
    services: [kamailio]           # services those packages bring, kept disabled in the image
    secrets: [ldap_reader]         # per-lab secrets its templates use (generated on first use)
    skip:                          # when its steps (and its checks) are skipped on a node
      unless_command: freeswitch   #   this command is missing from the node's image
      package: freeswitch          #   ... and so is this Debian package (default: the command)
      message: ...                 #   what the node says when it skips (and the check's SKIPPED text)
      hint: ...                    #   how to fix it (said by the recipe only)
    colour: "#cdb4db"              # the role's colour in `labctl graph`
    paths: {home: /var/lib/x}      # guest paths its templates (as `paths.home`) and its checks share
    ports: {report: 5072}          # guest ports, the same way (`ports.report`)
    memory: 256                    # MiB a node of this role gets when the topology says none
                                   #   (measured; a node with several roles gets the largest)

The folder `base/` holds the base recipe, applied to every node first; it is not a role a
topology can name, and may declare only a description, packages, services and secrets.
`images/` holds image recipes. Every other folder is a role and must hold a recipe.yaml.
This module is layer 1: it imports only the foundation modules.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labctl.errors import LabctlError, Problem, RecipeError
from labctl.paths import data_dir
from labctl.suggest import is_unsafe_char, quoted, unknown
from labctl.versions import FORMAT_KEY, Migration
from labctl.yamlsource import Key, ProblemReader, SourceDoc, check_version, kind, load_yaml

MANIFEST = "recipe.yaml"
RECIPE_FORMAT = 1
"""The role recipe format this labctl writes and reads (`format:` at the top; none means 1)."""
RECIPE_MIGRATIONS: dict[int, Migration] = {}
"""n -> the function that turns a format-n recipe mapping into format n+1 (none yet)."""
BASE = "base"
"""The folder of the base recipe, applied to every node before its roles."""
NOT_ROLES = ("images",)
"""Folders under vm-recipes that hold something else than a role."""

DECLARATION_KEYS = (
    "description",
    "after",
    "requires",
    "provides",
    "packages",
    "services",
    "secrets",
    "skip",
    "colour",
    "paths",
    "ports",
    "memory",
)
STEP_KEYS = ("files", "commands", "ready")
"""The recipe's steps: read and checked by labctl.render.recipe, only allowed here."""
BASE_KEYS = ("description", "packages", "services", "secrets", *STEP_KEYS)
REQUIRES_KEYS = ("roles", "sections")
SECTIONS = ("sip",)
"""Top-level topology sections a role can require."""
SKIP_KEYS = ("unless_command", "package", "message", "hint")

ROLE_NAME = re.compile(r"\A[a-z][a-z0-9-]{0,31}\Z")
ROLE_NAME_RULE = "a lowercase letter, then up to 31 lowercase letters, digits or '-'"
CAPABILITY = re.compile(r"\A[a-z][a-z0-9-]{0,63}\Z")
PACKAGE = re.compile(r"\A[a-z0-9][a-z0-9+.-]{1,99}\Z")
SERVICE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9@._-]{0,99}\Z")
SECRET = re.compile(r"\A[a-z][a-z0-9_]{0,63}\Z")
COMMAND = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._+-]{0,63}\Z")
COLOUR = re.compile(r"\A#[0-9a-fA-F]{6}\Z")
GUEST_PATH = re.compile(r"\A(/[A-Za-z0-9_@+-][A-Za-z0-9._@+-]{0,63}){1,16}\Z")
"""An absolute guest path of plain names (no '.' or '..' component, no '//'), safe in any template."""
SHELL_TEXT_REFUSED = '"$`\\'
"""Characters a skip message cannot hold: it is echoed inside double quotes on the node."""
TEXT_MAX = 300
ROLE_MEMORY_MIB = (128, 65536)
"""The range a role's `memory` may declare, in MiB."""


@dataclass(frozen=True)
class Requires:
    """What a role needs of the topology it is used in."""

    roles: tuple[str, ...] = ()
    sections: tuple[str, ...] = ()


@dataclass(frozen=True)
class Skip:
    """A role is skipped on a node whose image lacks its command (and its checks report SKIPPED)."""

    unless_command: str
    package: str
    message: str
    hint: str = ""

    def reason(self) -> str:
        """What the recipe says on the node when it skips the role: the message and how to fix it."""
        return f"{self.message}: {self.hint}" if self.hint else self.message

    def shell(self) -> str:
        """The recipe's skip test: succeeds (saying why) when the command is missing."""
        return f'command -v {self.unless_command} >/dev/null 2>&1 && exit 1; echo "{self.reason()}"'


@dataclass(frozen=True)
class Role:
    name: str
    manifest: Path
    description: str = ""
    after: tuple[str, ...] = ()
    requires: Requires = field(default_factory=Requires)
    provides: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    skip: Skip | None = None
    colour: str | None = None
    paths: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    memory: int | None = None
    """MiB for a node of this role whose topology names none; None: the topology's default."""

    def path(self, name: str) -> str:
        """A guest path the role declares; a LabctlError naming the manifest when it does not."""
        if name not in self.paths:
            raise LabctlError(f"{self.manifest}: " + unknown("path", name, self.paths, where=f"in role {self.name}"))
        return self.paths[name]

    def port(self, name: str) -> int:
        if name not in self.ports:
            raise LabctlError(f"{self.manifest}: " + unknown("port", name, self.ports, where=f"in role {self.name}"))
        return self.ports[name]


@dataclass(frozen=True)
class Catalogue:
    """Every role under one recipes root, and the base recipe's declarations."""

    root: Path
    roles: tuple[Role, ...]  # sorted by name; the base recipe is not among them
    base: Role | None  # None when the root has no base recipe

    @functools.cached_property
    def _by_name(self) -> dict[str, Role]:
        return {role.name: role for role in self.roles}

    def names(self) -> tuple[str, ...]:
        """The roles a topology can name, sorted."""
        return tuple(self._by_name)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def role(self, name: str) -> Role:
        try:
            return self._by_name[name]
        except KeyError:
            raise LabctlError(unknown("role", name, self.names(), where=f"in {self.root}")) from None

    def providers(self, capability: str) -> tuple[str, ...]:
        """The roles that provide `capability`, sorted."""
        return tuple(role.name for role in self.roles if capability in role.provides)

    def colour(self, name: str) -> str | None:
        return self._by_name[name].colour if name in self._by_name else None

    def _with_base(self, names: Iterable[str] | None = None) -> list[Role]:
        chosen = self.roles if names is None else [self._by_name[n] for n in names if n in self._by_name]
        return [*([self.base] if self.base else []), *chosen]

    def secrets(self, roles: Iterable[str] | None = None) -> tuple[str, ...]:
        """The secrets the base recipe and `roles` (all roles by default) use, sorted."""
        return tuple(sorted({s for role in self._with_base(roles) for s in role.secrets}))

    def packages(self) -> tuple[str, ...]:
        """Every package the base recipe and the roles need in the image, sorted."""
        return tuple(sorted({p for role in self._with_base() for p in role.packages}))

    def services(self) -> tuple[str, ...]:
        """Every service the image keeps disabled for the base recipe and the roles, sorted."""
        return tuple(sorted({s for role in self._with_base() for s in role.services}))


def recipes_root() -> Path:
    return data_dir("vm-recipes")


def catalogue(root: Path | None = None) -> Catalogue:
    """The catalogue under `root` (vm-recipes by default), or a RecipeError naming every bad declaration.

    Read once per root and kept while no manifest changes (their times and sizes are checked)."""
    folder = (root or recipes_root()).absolute()
    return _load(folder, _signature(folder))


def _role_folders(root: Path) -> list[Path]:
    try:
        with os.scandir(root) as entries:
            names = [e.name for e in entries if e.is_dir() and not e.name.startswith((".", "_"))]
    except OSError:  # no recipes root (yet): no roles
        return []
    return [root / name for name in sorted(names) if name not in NOT_ROLES]


def _signature(root: Path) -> tuple[tuple[str, int, int], ...]:
    """Each role folder with its manifest's time and size: a changed manifest is read again."""
    found = []
    for folder in _role_folders(root):
        try:
            st = os.stat(os.path.join(folder, MANIFEST))
            found.append((folder.name, st.st_mtime_ns, st.st_size))
        except OSError:
            found.append((folder.name, -1, -1))
    return tuple(found)


@functools.lru_cache(maxsize=16)
def _load(root: Path, signature: tuple[tuple[str, int, int], ...]) -> Catalogue:
    del signature  # part of the cache key only
    problems: list[Problem] = []
    declared: list[tuple[Role, _Reader]] = []
    for folder in _role_folders(root):
        manifest = folder / MANIFEST
        if not ROLE_NAME.fullmatch(folder.name):
            problems.append(Problem(folder, 1, f"role name {quoted(folder.name)} is not valid ({ROLE_NAME_RULE})"))
            continue
        if not manifest.is_file():
            others = ", ".join(f"{name}/" for name in NOT_ROLES)
            problems.append(Problem(manifest, 1, f"missing: every folder under {root.name}/ but {others} is a role"))
            continue
        reader = _Reader(load_manifest(manifest))
        declared.append((reader.role(folder.name), reader))
    names = {role.name for role, _ in declared if role.name != BASE}
    for role, reader in declared:
        reader.references(role, names)
        problems += reader.problems
    if problems:
        raise RecipeError(problems)
    base = next((role for role, _ in declared if role.name == BASE), None)
    return Catalogue(root=root, roles=tuple(role for role, _ in declared if role.name != BASE), base=base)


def load_manifest(path: Path) -> SourceDoc:
    """A role's recipe.yaml, its format checked and brought up to RECIPE_FORMAT (a RecipeError if it cannot be)."""
    return check_version(load_yaml(path), "this recipe", RECIPE_FORMAT, RECIPE_MIGRATIONS, RecipeError)


class _Reader(ProblemReader):
    """Reads one manifest's declarations, collecting every problem with its line."""

    def mapping(self, value: Any, key: Key, allowed: tuple[str, ...], what: str) -> dict[str, Any]:
        """Only the allowed keys (the others are problems already)."""
        return {k: v for k, v in super().mapping(value, key, allowed, what).items() if k in allowed}

    def text(self, value: Any, key: Key, what: str, refused: str = "") -> str:
        if not isinstance(value, str) or not value.strip():
            self.problem(key, f"{what} must be one line of text, not {kind(value)}")
            return ""
        bad = next((c for c in value if is_unsafe_char(c) or c in refused), None)
        if bad is not None:
            shown = quoted(bad) if bad.isprintable() else f"U+{ord(bad):04X}"
            self.problem(key, f"{what} must be one line of text without {shown}")
            return ""
        if len(value) > TEXT_MAX:
            self.problem(key, f"{what} is {len(value)} characters long; at most {TEXT_MAX}")
            return ""
        return value.strip()

    def name(self, value: Any, key: Key, what: str, pattern: re.Pattern[str]) -> str:
        if not isinstance(value, str) or not pattern.fullmatch(value):
            self.problem(key, f"{what} {kind(value)} is not valid (expected {_rule(pattern)})")
            return ""
        return value

    def names(self, value: Any, key: Key, what: str, pattern: re.Pattern[str]) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.problem(key, f"'{key[-1]}' must be a list of {what}s, not {kind(value)}")
            return ()
        found: list[str] = []
        for i, item in enumerate(value):
            name = self.name(item, key + (i,), what, pattern)
            if name in found:
                self.problem(key + (i,), f"{what} {quoted(name)} is listed twice")
            elif name:
                found.append(name)
        return tuple(found)

    def role(self, name: str) -> Role:
        doc = self.doc
        allowed = (*(BASE_KEYS if name == BASE else DECLARATION_KEYS + STEP_KEYS), FORMAT_KEY)
        if not isinstance(doc.value, dict):
            self.problem((), f"a recipe is a mapping of {', '.join(allowed)}, not {kind(doc.value)}")
            return Role(name, doc.path)
        for key in doc.value:
            if key not in allowed:
                hint = (
                    f"; the base recipe runs first on every node, so it declares only {', '.join(BASE_KEYS)}"
                    if key in DECLARATION_KEYS + STEP_KEYS
                    else ""
                )
                self.problem((key,), unknown("key in recipe", key, allowed) + hint)
        spec: dict[str, Any] = {k: v for k, v in doc.value.items() if k in allowed}
        requires = self.mapping(spec.get("requires"), ("requires",), REQUIRES_KEYS, "'requires'")
        colour = self.name(spec["colour"], ("colour",), "colour", COLOUR) if "colour" in spec else ""
        return Role(
            name=name,
            manifest=doc.path,
            description=self.text(spec["description"], ("description",), "'description'")
            if "description" in spec
            else "",
            after=self.names(spec.get("after"), ("after",), "role name", ROLE_NAME),
            requires=Requires(
                roles=self.names(requires.get("roles"), ("requires", "roles"), "role name", ROLE_NAME),
                sections=self.names(requires.get("sections"), ("requires", "sections"), "section", CAPABILITY),
            ),
            provides=self.names(spec.get("provides"), ("provides",), "capability", CAPABILITY),
            packages=self.names(spec.get("packages"), ("packages",), "Debian package", PACKAGE),
            services=self.names(spec.get("services"), ("services",), "service", SERVICE),
            secrets=self.names(spec.get("secrets"), ("secrets",), "secret name", SECRET),
            skip=self.skip(spec["skip"]) if "skip" in spec else None,
            colour=colour or None,
            paths=self.table(spec.get("paths"), "paths", self.guest_path),
            ports=self.table(spec.get("ports"), "ports", self.port),
            memory=self.memory(spec["memory"]) if "memory" in spec else None,
        )

    def memory(self, value: Any) -> int | None:
        low, high = ROLE_MEMORY_MIB
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.problem(("memory",), f"memory {kind(value)} is not valid (expected MiB from {low} to {high})")
            return None
        return value

    def table(self, value: Any, key: str, check: Any) -> dict[str, Any]:
        """A mapping of names (like secret names) to values that `check` accepts."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem((key,), f"'{key}' must be a mapping of names to values, not {kind(value)}")
            return {}
        found = {}
        for name, item in value.items():
            if self.name(name, (key, name), f"name in '{key}'", SECRET):
                checked = check(item, (key, name))
                if checked is not None:
                    found[name] = checked
        return found

    def guest_path(self, value: Any, key: Key) -> str | None:
        if not isinstance(value, str) or not GUEST_PATH.fullmatch(value):
            self.problem(key, f"guest path {kind(value)} is not valid (expected {_rule(GUEST_PATH)})")
            return None
        return value

    def port(self, value: Any, key: Key) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
            self.problem(key, f"port {kind(value)} is not valid (expected a number from 1 to 65535)")
            return None
        return value

    def skip(self, value: Any) -> Skip | None:
        spec = self.mapping(value, ("skip",), SKIP_KEYS, "'skip'")
        missing = [k for k in ("unless_command", "message") if k not in spec]
        if missing or not spec:
            self.problem(("skip",), "'skip' is a mapping with 'unless_command' and 'message' (and 'package', 'hint')")
            return None
        command = self.name(spec["unless_command"], ("skip", "unless_command"), "command", COMMAND)
        package = (
            self.name(spec["package"], ("skip", "package"), "Debian package", PACKAGE) if "package" in spec else command
        )
        message = self.text(spec["message"], ("skip", "message"), "skip message", SHELL_TEXT_REFUSED)
        hint = self.text(spec["hint"], ("skip", "hint"), "skip hint", SHELL_TEXT_REFUSED) if "hint" in spec else ""
        if not (command and package and message) or ("hint" in spec and not hint):
            return None
        return Skip(unless_command=command, package=package, message=message, hint=hint)

    def references(self, role: Role, names: set[str]) -> None:
        """Roles named in `after` and `requires` exist; sections are known."""
        for i, dep in enumerate(role.after):
            if dep != BASE and dep not in names:
                self.problem(("after", i), unknown("role", dep, names, where="in 'after'"))
        for i, dep in enumerate(role.requires.roles):
            if dep not in names:
                self.problem(("requires", "roles", i), unknown("role", dep, names, where="in 'requires'"))
        for i, section in enumerate(role.requires.sections):
            if section not in SECTIONS:
                self.problem(("requires", "sections", i), unknown("section", section, SECTIONS, where="in 'requires'"))


_RULES = {
    ROLE_NAME.pattern: ROLE_NAME_RULE,
    CAPABILITY.pattern: "a lowercase letter, then lowercase letters, digits or '-'",
    PACKAGE.pattern: "a Debian package name: lowercase letters, digits, '+', '.' or '-'",
    SERVICE.pattern: "a systemd unit name: letters, digits, '@', '.', '_' or '-'",
    SECRET.pattern: "a lowercase letter, then lowercase letters, digits or '_'",
    COMMAND.pattern: "a command name: letters, digits, '.', '_', '+' or '-'",
    COLOUR.pattern: "a colour such as '#a0c4ff'",
    GUEST_PATH.pattern: "an absolute path of names made of letters, digits, '.', '_', '@', '+' or '-'",
}


def _rule(pattern: re.Pattern[str]) -> str:
    return _RULES[pattern.pattern]
