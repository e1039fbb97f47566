"""Can `up` run this valid topology here? Its demo and images must exist, and its nodes fit the host.

Validation of the file alone (schema.py) cannot know these: they depend on demos/, vm-recipes/images/
and the host. `labctl validate` runs them so that it never accepts what `up` cannot run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from labctl.compile.plan import LabPlan
from labctl.errors import FileError, LabctlError, Problem, TopologyError
from labctl.paths import data_dir, demo_reference
from labctl.suggest import did_you_mean, quoted
from labctl.topology.model import Topology


@dataclass(frozen=True)
class Host:
    """What this machine can give to a lab's VMs."""

    memory_mib: int
    cpus: int

    @classmethod
    def this(cls) -> Host:
        physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        return cls(memory_mib=physical >> 20, cpus=os.cpu_count() or 1)


def check_runnable(topo: Topology, plan: LabPlan, host: Host | None) -> None:
    """Raise one TopologyError with every reason `up` could not run `topo` (host limits when given)."""
    problems = host_problems(topo, host) if host is not None else []
    problems += image_problems(topo)
    problems += demo_problems(topo, plan)
    if problems:
        raise TopologyError(problems)


def _attr_line(topo: Topology, node: str, attr: str) -> int:
    for key in (("nodes", node, attr), ("defaults", attr)):
        if key in topo.lines:
            return topo.lines[key]
    return topo.line(("nodes", node))


def host_problems(topo: Topology, host: Host) -> list[Problem]:
    """Each node must fit the host's RAM and CPUs, and all of them its RAM together (a shared default once)."""
    problems: dict[tuple[int, str], Problem] = {}
    for node in topo.nodes:
        limits = (("memory", node.memory, host.memory_mib, "MiB"), ("vcpus", node.vcpus, host.cpus, "CPUs"))
        for attr, value, limit, unit in limits:
            line = _attr_line(topo, node.name, attr)
            if value > limit and (line, attr) not in problems:
                what = "memory (MiB)" if attr == "memory" else attr
                message = f"{what} of node {quoted(node.name)} is {value}; this host has {limit} {unit}"
                problems[(line, attr)] = Problem(topo.source, line, message)
    total = sum(n.memory for n in topo.nodes)
    if not problems and total > host.memory_mib:
        message = f"the nodes need {total} MiB of memory together; this host has {host.memory_mib} MiB"
        problems[(0, "total")] = Problem(topo.source, topo.line(("nodes",)), message)
    return list(problems.values())


def image_problems(topo: Topology) -> list[Problem]:
    """Every image a node uses must have a valid recipe in vm-recipes/images/."""
    from labctl.images.recipe import known_images, load_image_recipe

    known = known_images()
    problems: list[Problem] = []
    seen: set[str] = set()
    for node in topo.nodes:
        if node.image in seen:
            continue
        seen.add(node.image)
        line = _attr_line(topo, node.name, "image")
        if node.image not in known:
            message = f"image {quoted(node.image)} has no recipe (no vm-recipes/images/{node.image}.yaml)"
            hint = did_you_mean(node.image, known) or (f" (known: {', '.join(known)})" if known else "")
            problems.append(Problem(topo.source, line, message + hint))
            continue
        try:
            load_image_recipe(node.image, env={})
        except FileError as exc:
            problems += exc.problems
        except LabctlError as exc:
            problems.append(Problem(topo.source, line, str(exc).splitlines()[0]))
    return problems


def demo_problems(topo: Topology, plan: LabPlan) -> list[Problem]:
    """The topology's demo must exist, load, and its checks' parameters must fit this plan."""
    if topo.demo is None:
        return []
    from labctl.demo import spec as demo_spec
    from labctl.demo.checks import check_types, probes_for

    known = sorted(p.stem for p in data_dir("demos").glob("*.yaml"))
    reference = demo_reference(topo.demo, topo.source)
    if reference != topo.demo and not Path(reference).is_file():
        message = f"demo {quoted(topo.demo)} does not exist (no file {reference})"
        return [Problem(topo.source, topo.line(("demo",)), message)]
    if reference == topo.demo and topo.demo not in known:
        hint = did_you_mean(topo.demo, known) or (f" (known: {', '.join(known)})" if known else "")
        message = f"demo {quoted(topo.demo)} does not exist (no demos/{topo.demo}.yaml){hint}"
        return [Problem(topo.source, topo.line(("demo",)), message)]
    try:
        demo = demo_spec.load_demo(reference, check_types())
    except FileError as exc:
        return list(exc.problems)
    except LabctlError as exc:
        return [Problem(topo.source, topo.line(("demo",)), str(exc).splitlines()[0])]
    validate_demo = getattr(demo_spec, "validate_demo", None)  # helper "verdict"'s, when merged
    if validate_demo is not None:
        try:
            validate_demo(demo, plan)
        except FileError as exc:
            return list(exc.problems)
        return []
    problems = []
    for check in demo.checks:
        try:
            probes_for(check.type, plan, check.params)
        except LabctlError as exc:
            problems.append(Problem(demo.source, check.line, str(exc).splitlines()[0]))
        except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
            problems.append(Problem(demo.source, check.line, f"check {check.type}: cannot use its parameters ({exc})"))
    return problems
