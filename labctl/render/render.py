"""Render recipes for a node: plan in, files and commands out. Pure: no I/O, no clock."""

from __future__ import annotations

import functools
import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import networkx as nx

from labctl.compile.plan import LabPlan, NodePlan
from labctl.errors import LabctlError, Problem, RecipeError
from labctl.render.escape import FILTERS, comment, plain, xml
from labctl.render.guest_path import check_guest_path
from labctl.render.recipe import BASE_ROLE, MANIFEST, ReadyProbe, Recipe
from labctl.render.shadow import shadow_hash
from labctl.suggest import unknown


@dataclass(frozen=True)
class RenderedFile:
    path: str
    content: str
    mode: str
    owner: str


@dataclass(frozen=True)
class RoleStep:
    """What one role does on one node: write files, run commands, wait until ready."""

    role: str
    files: tuple[RenderedFile, ...]
    commands: tuple[str, ...]
    ready: ReadyProbe | None
    skip_when: str | None


class RenderError(LabctlError):
    """A value from the plan that a recipe's file format cannot hold, or a rendered file path that is
    not a plain absolute path; the message starts with the template's `file:line`. (A template that
    is wrong whatever the plan, e.g. a syntax error or an undefined name, is a RecipeError.)"""


def _environment(finalize: Callable[[Any], Any]) -> jinja2.Environment:
    """Fails on anything undefined. Every printed value goes through `finalize`: XML templates (*.xml.j2)
    escape it, other templates refuse control characters, unless a filter of labctl.render.escape
    already made it safe (markupsafe.Markup). So a forgotten filter cannot open a hole."""
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        finalize=finalize,
    )
    env.filters.update(FILTERS)
    env.filters["ip"] = lambda cidr: str(cidr).split("/")[0]
    env.filters["prefixlen"] = lambda cidr: ipaddress.IPv4Interface(str(cidr)).network.prefixlen
    env.filters["network"] = lambda cidr: str(ipaddress.IPv4Interface(str(cidr)).network)
    env.filters["ip_in"] = lambda address, cidr: (
        ipaddress.IPv4Address(str(address)) in ipaddress.IPv4Interface(str(cidr)).network
    )
    env.filters["shadow_hash"] = shadow_hash
    return env


_ENV = _environment(finalize=plain)
_XML_ENV = _environment(finalize=xml)


def role_order(recipes: Mapping[str, Recipe], roles: set[str]) -> list[list[str]]:
    """Waves of roles: each wave starts once every node's roles of earlier waves are ready."""
    graph = nx.DiGraph()
    graph.add_node(BASE_ROLE)
    for role in roles:
        graph.add_edge(BASE_ROLE, role)
        for dep in recipes[role].after:
            if dep in roles or dep == BASE_ROLE:
                graph.add_edge(dep, role)
    if not nx.is_directed_acyclic_graph(graph):
        edges = nx.find_cycle(graph)
        cycle = " -> ".join([edge[0] for edge in edges] + [edges[0][0]])
        raise LabctlError(f"recipes wait for each other in a cycle: {cycle}")
    return [sorted(generation) for generation in nx.topological_generations(graph)]


def context(plan: LabPlan, node: NodePlan, secrets: Mapping[str, str]) -> dict[str, Any]:
    return {
        "plan": plan,
        "node": node,
        "secrets": dict(secrets),
        "interfaces": list(node.interfaces),
        "dns_servers": list(plan.dns.server_addresses),
        "routers": [n for n in plan.nodes if n.has("router")],
    }


def _template_line(exc: BaseException) -> int | None:
    """The line of the template frame that raised, if any (Jinja maps its frames to template lines)."""
    if isinstance(exc, jinja2.TemplateSyntaxError) and exc.lineno:
        return exc.lineno
    tb, line = exc.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


@functools.lru_cache(maxsize=1024)
def _template(text: str, xml_file: bool) -> jinja2.Template:
    """Compiled once: a lab renders the same templates for every node."""
    return (_XML_ENV if xml_file else _ENV).from_string(text)


@dataclass(frozen=True)
class Source:
    """Where a template comes from, for `file:line` errors: a template file (its own lines count),
    or an entry of recipe.yaml (path, command, ready probe: the entry's line counts)."""

    file: Path
    line: int | None = None  # None: a template file, located by the template's own line
    what: str = ""  # "path: ", "command: "...

    def at(self, exc: BaseException) -> tuple[Path, int]:
        return self.file, self.line or _template_line(exc) or 1


def _render(text: str, ctx: Mapping[str, Any], source: Source) -> str:
    try:
        return _template(text, source.file.name.endswith(".xml.j2")).render(ctx)
    except ValueError as exc:  # UnsafeValue, or a filter's ipaddress error
        path, line = source.at(exc)
        raise RenderError(f"{path}:{line}: {_on(ctx)}{source.what}{exc}") from None
    except jinja2.TemplateError as exc:
        path, line = source.at(exc)
        on = "" if isinstance(exc, jinja2.TemplateSyntaxError) else _on(ctx)
        raise RecipeError([Problem(path, line, f"{on}{source.what}{exc.message or exc}")]) from None


def _on(ctx: Mapping[str, Any]) -> str:
    node = ctx.get("node")
    return f"node {comment(node.name)}: " if isinstance(node, NodePlan) else ""


def _joined(folder: Path, name: str) -> Path:
    """A template's file, `..` resolved (a recipe may use a sibling's template: ../ldap/reader.pw.j2)."""
    return Path(os.path.normpath(folder / name))


def _guest_path(path: str, ctx: Mapping[str, Any], source: Source) -> str:
    try:
        return check_guest_path(path)
    except ValueError as exc:
        raise RenderError(f"{source.file}:{source.line}: {_on(ctx)}{source.what}{exc}") from None


def _entry(recipe: Recipe, key: str, what: str) -> Source:
    """An entry of recipe.yaml (a command, the ready probe), located by its line there."""
    return Source(recipe.folder / MANIFEST, recipe.lines.get(key, 1), what)


def render_step(recipe: Recipe, ctx: Mapping[str, Any]) -> RoleStep:
    ctx = {**ctx, "paths": dict(recipe.paths), "ports": dict(recipe.ports)}  # the role's own declarations
    files: list[RenderedFile] = []
    for spec in recipe.files:
        entry = Source(recipe.folder / MANIFEST, spec.line, f"path of {spec.template}: ")
        template = Source(_joined(recipe.folder, spec.template))
        if spec.foreach and spec.foreach not in ctx:
            message = unknown("list in foreach", spec.foreach, sorted(ctx))
            raise RecipeError([Problem(entry.file, spec.line, f"{spec.template}: {message}")])
        items = ctx[spec.foreach] if spec.foreach else [None]
        for item in items:
            item_ctx = {**ctx, "item": item}
            path = _render(spec.path, item_ctx, entry).strip()
            files.append(
                RenderedFile(
                    path=_guest_path(path, item_ctx, entry),
                    content=_render(recipe.templates[spec.template], item_ctx, template),
                    mode=spec.mode,
                    owner=spec.owner,
                )
            )
    commands = tuple(
        rendered
        for i, command in enumerate(recipe.commands)
        if (rendered := _render(command, ctx, _entry(recipe, f"commands.{i}", "command: ")).strip())
    )
    ready = recipe.ready
    if ready is not None:
        ready = ReadyProbe(
            command=_render(ready.command, ctx, _entry(recipe, "ready", "ready: ")).strip(),
            timeout=ready.timeout,
            interval=ready.interval,
        )
    return RoleStep(role=recipe.role, files=tuple(files), commands=commands, ready=ready, skip_when=recipe.skip_when)


def render_node(
    plan: LabPlan, node: NodePlan, recipes: Mapping[str, Recipe], secrets: Mapping[str, str]
) -> dict[str, RoleStep]:
    """role -> step, for the base recipe and each of the node's roles."""
    ctx = context(plan, node, secrets)
    roles = [BASE_ROLE, *(r for r in node.roles if r in recipes and r != BASE_ROLE)]
    return {role: render_step(recipes[role], ctx) for role in roles}
