"""Push a rendered lab to its nodes, wave by wave: files, then commands, then the readiness probe.

Rendering happens before boot (render_with_lab_secrets, called by `up` and `reconfigure`); this
module only pushes steps that were already rendered, and written to the lab's `rendered/`."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

from labctl import cancel
from labctl.backends.base import Backend, Progress
from labctl.cancel import run_parallel
from labctl.compile.plan import LabPlan
from labctl.errors import LabctlError
from labctl.lab.step_script import FILES, Outcome, outcome, step_run, tail
from labctl.render.lab import RenderedLab, render_plan
from labctl.render.render import RoleStep
from labctl.roles import catalogue
from labctl.state import LabState, lab_secrets

COMMAND_TIMEOUT = 180.0


def apply_step(backend: Backend, state: LabState, node: str, step: RoleStep, progress: Progress) -> None:
    """The step in one guest-exec (see labctl.lab.step_script); then, only if the readiness probe
    did not hold at once, the probe again until it does."""
    nonce = secrets.token_hex(8)
    try:
        run = step_run(step, nonce, COMMAND_TIMEOUT)
    except ValueError as exc:
        raise LabctlError(f"node '{node}', role {step.role}: {exc}") from None
    result = backend.exec(state, node, run.script, timeout=run.timeout, stdin=run.stdin)
    done = outcome(result, nonce)
    if done.kind == "skipped":
        progress(node, f"{step.role}: skipped ({done.detail or 'skip_when holds'})")
        return
    if done.kind != "done":
        raise LabctlError(f"node '{node}', role {step.role}: {_failure(step, done)}")
    if step.ready is not None and not done.ready:
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


def _failure(step: RoleStep, done: Outcome) -> str:
    if done.part == FILES:
        return f"writing its {len(step.files)} files failed (exit {done.exit_code}): {done.detail}"
    if done.part.isdigit():
        command = step.commands[int(done.part)]
        return f"`{command}` exited {done.exit_code}: {done.detail}"
    return f"the step's script stopped (exit {done.exit_code}): {done.detail}"


def wait_until(
    backend: Backend, state: LabState, node: str, command: str, timeout: float, interval: float, what: str
) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        result = backend.exec(state, node, command, timeout=max(timeout, 10))
        if result.ok:
            return
        last = tail(result.stderr) or tail(result.stdout)
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
