"""up and down: take a plan to a running, configured lab and back to nothing."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType

from labctl import cancel
from labctl.backends.base import Backend, Progress
from labctl.cancel import run_parallel
from labctl.compile.plan import LabPlan
from labctl.errors import LabctlError
from labctl.lab.configure import configure, render_with_lab_secrets
from labctl.lab.rendered import save_rendered
from labctl.render.lab import RenderedLab
from labctl.state import LabState, lab_exists, lab_lock, load_state, remove_folder, saved_plan

BOOT_CEILING = 900.0  # hard limit on one boot attempt; before it, a node is given up on only when stuck


@dataclass
class UpResult:
    state: LabState
    seconds: float


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM gets the same clean teardown as Ctrl-C."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def up(
    backend: Backend,
    plan: LabPlan,
    topology: str,
    progress: Progress,
    phase: Callable[[str], None],
    keep_on_failure: bool = False,
) -> UpResult:
    start = time.monotonic()
    with lab_lock(plan.lab), _sigterm_as_interrupt():
        existing = load_state(plan.lab)
        if existing is not None:
            raise LabctlError(
                f"lab '{plan.lab}' is already up (phase {existing.phase}); `labctl down {plan.lab}` removes it"
            )
        phase(f"rendering {len(plan.nodes)} nodes")
        rendered = _render_first(backend, plan)
        state = LabState(lab=plan.lab, backend=backend.name, topology=topology, plan=plan.to_dict())
        state.accel = backend.accel()
        state.save()
        try:
            save_rendered(state.folder, rendered)
            phase(f"starting {len(plan.nodes)} nodes ({state.accel.upper()})")
            backend.create(plan, state, progress)
            phase("waiting for guest agents")
            run_parallel([_waiter(backend, state, n.name, progress) for n in plan.nodes])
            phase("configuring nodes")
            state.phase = "configuring"
            state.save()
            configure(backend, state, rendered, progress)
            state.phase = "up"
            state.save()
        except BaseException as exc:
            state.phase = "failed"
            state.save()
            if keep_on_failure and not isinstance(exc, KeyboardInterrupt):
                raise
            phase("removing the half-built lab")
            _teardown(backend, plan.lab, state, lambda _n, _m: None)
            cancel.reset()
            if isinstance(exc, KeyboardInterrupt):
                raise LabctlError(f"interrupted; lab '{plan.lab}' was removed") from None
            raise
    return UpResult(state=state, seconds=time.monotonic() - start)


def _render_first(backend: Backend, plan: LabPlan) -> RenderedLab:
    """Render every node before the host is checked or anything is made: a wrong template or recipe
    fails here in a moment, with its file:line, and what this step made (the lab's folder holding
    its new secrets) is removed again."""
    made = not lab_exists(plan.lab)
    try:
        rendered = render_with_lab_secrets(plan)
        backend.check_host()
    except BaseException:
        if made:
            remove_folder(plan.lab)
        raise
    return rendered


def reconfigure(backend: Backend, state: LabState, progress: Progress) -> RenderedLab:
    """Render the plan saved in the lab again (same secrets), rewrite its `rendered/`, push every node."""
    rendered = render_with_lab_secrets(saved_plan(state))
    save_rendered(state.folder, rendered)
    configure(backend, state, rendered, progress)
    return rendered


def _waiter(backend: Backend, state: LabState, node: str, progress: Progress) -> Callable[[], None]:
    def wait() -> None:
        backend.wait_ready(state, node, BOOT_CEILING, progress)
        progress(node, "agent ready")

    return wait


def _teardown(backend: Backend, lab: str, state: LabState | None, progress: Progress) -> list[str]:
    removed = backend.destroy(lab, state, progress)
    remove_folder(lab)
    return removed


def down(backend: Backend, lab: str, progress: Progress) -> list[str]:
    """Remove everything of `lab`; safe to run again, and after a crash."""
    with lab_lock(lab):
        try:
            state = load_state(lab)
        except LabctlError:
            state = None  # damaged state: the backend still finds the lab's objects by their labels
        return _teardown(backend, lab, state, progress)
