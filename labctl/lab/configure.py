"""Push a rendered lab to its nodes, wave by wave: files, then commands, then the readiness probe.

Rendering happens before boot (render_with_lab_secrets, called by `up` and `reconfigure`); this
module only pushes steps that were already rendered, and written to the lab's `rendered/`."""

from __future__ import annotations

import time
from collections.abc import Callable

from labctl import cancel
from labctl.backends.base import Backend, FileSpec, Progress
from labctl.cancel import run_parallel
from labctl.compile.plan import LabPlan
from labctl.errors import LabctlError
from labctl.render.lab import RenderedLab, render_plan
from labctl.render.render import RoleStep
from labctl.roles import catalogue
from labctl.state import LabState, lab_secrets

COMMAND_TIMEOUT = 180.0


def _tail(text: str, lines: int = 4) -> str:
    return " | ".join(text.strip().splitlines()[-lines:])


def apply_step(backend: Backend, state: LabState, node: str, step: RoleStep, progress: Progress) -> None:
    if step.skip_when:
        skip = backend.exec(state, node, step.skip_when, timeout=30)
        if skip.ok:
            progress(node, f"{step.role}: skipped ({_tail(skip.stdout) or 'skip_when holds'})")
            return
    backend.write_files(state, node, [FileSpec(f.path, f.content.encode(), f.mode, f.owner) for f in step.files])
    for command in step.commands:
        result = backend.exec(state, node, command, timeout=COMMAND_TIMEOUT)
        if not result.ok:
            detail = _tail(result.stderr) or _tail(result.stdout) or "no output"
            raise LabctlError(f"node '{node}', role {step.role}: `{command}` exited {result.exit_code}: {detail}")
    if step.ready is not None:
        wait_until(
            backend,
            state,
            node,
            step.ready.command,
            step.ready.timeout,
            step.ready.interval,
            what=f"role {step.role} to be ready",
        )
    progress(node, f"{step.role}: ready")


def wait_until(
    backend: Backend, state: LabState, node: str, command: str, timeout: float, interval: float, what: str
) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        result = backend.exec(state, node, command, timeout=max(timeout, 10))
        if result.ok:
            return
        last = _tail(result.stderr) or _tail(result.stdout)
        if time.monotonic() > deadline:
            raise LabctlError(
                f"node '{node}': timed out after {timeout:.0f} s waiting for {what} "
                f"(`{(command.split() or [''])[0]}` ...){': ' + last if last else ''}"
            )
        cancel.sleep(interval)


def secret_names(plan: LabPlan) -> tuple[str, ...]:
    """The per-lab secrets the lab's roles (and the base recipe) declare."""
    return tuple(catalogue().secrets({role for node in plan.nodes for role in node.roles}))


def placeholder_secrets(plan: LabPlan) -> dict[str, str]:
    """Clearly marked stand-ins, for rendering when the lab's own secrets are not at hand."""
    return {name: f"placeholder-{name}" for name in secret_names(plan)}


def check_renders(plan: LabPlan) -> None:
    """Render every node in memory with placeholder secrets, writing nothing: a wrong template or
    recipe fails (file:line) before images are built. `up` renders again with the lab's secrets."""
    render_plan(plan, placeholder_secrets(plan))


def render_with_lab_secrets(plan: LabPlan) -> RenderedLab:
    """Every node of `plan` rendered with the lab's secrets (made, 0600, on first use); RecipeError or
    RenderError with the template's file:line when a recipe is wrong."""
    return render_plan(plan, lab_secrets(plan.lab, secret_names(plan)))


def configure(backend: Backend, state: LabState, rendered: RenderedLab, progress: Progress) -> None:
    """Push every node's pre-rendered steps, one wave after the other (a wave's steps at once)."""
    for wave in rendered.wave_steps():
        run_parallel([_bind(backend, state, node, step, progress) for node, step in wave])


def _bind(backend: Backend, state: LabState, node: str, step: RoleStep, progress: Progress) -> Callable[[], None]:
    return lambda: apply_step(backend, state, node, step, progress)
