"""What `up` would push to every node, rendered with no VM: to inspect, diff or bundle."""

from __future__ import annotations

from pathlib import Path

from labctl.lab.rendered import RenderSummary, render_to_folder
from labctl.service import topologies

__all__ = ["RenderSummary", "render"]


def render(topology: str, output: Path, force: bool = False) -> RenderSummary:
    """Write every node's rendered folder (files at their guest paths, steps.json) under `output`,
    with the running lab's secrets if it runs here, placeholders otherwise (the summary names them)."""
    return render_to_folder(topologies.load_plan(topology), output, force)
