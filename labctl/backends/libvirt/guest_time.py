"""A restored guest's clock: its realtime clock goes on from the moment it was saved, so every
node restored from a template or a lab snapshot is set to the host's time through its agent."""

from __future__ import annotations

import time
from collections.abc import Callable

from labctl import cancel
from labctl.backends.base import ExecResult
from labctl.backends.libvirt.agent import AgentError, GuestAgent
from labctl.errors import LabctlError

AGENT_RECONNECT = 60.0  # a restored guest's agent answers again within this
CLOCK_TIMEOUT = 60.0


def clock_script(now: float) -> str:
    """Set the guest's clock to `now` (pure). date(1), not the agent's guest-set-time, which also
    runs `hwclock -w` and waits for the RTC's next second: 2.4-4.9 s per node under TCG here,
    against 0.1 s."""
    return f"date -s @{now:.6f} >/dev/null"


def run_when_ready(
    agent: GuestAgent, script: Callable[[], str], timeout: float, stdin: bytes | None = None
) -> ExecResult:
    """Run a shell in a guest that has just resumed. libvirt reconnects to the agent's channel
    within a few hundred ms, but with many guests resuming at once it can call the agent "not
    available for now" a while longer: wait and try again until AGENT_RECONNECT. The script is
    made again on each try, so that a clock in it is the time it runs."""
    deadline = time.monotonic() + AGENT_RECONNECT
    while True:
        while not agent.ping():
            if time.monotonic() > deadline:
                waited = f"did not answer within {AGENT_RECONNECT:.0f} s"
                raise LabctlError(f"the guest agent of node '{agent.node}' {waited}")
            cancel.sleep(0.1)
        try:
            return agent.exec(["/bin/sh", "-c", script()], timeout=timeout, stdin=stdin)
        except AgentError:
            if time.monotonic() > deadline:
                raise
            cancel.sleep(0.5)


def set_clock(agent: GuestAgent) -> None:
    """The host's time in the guest, once its agent answers; LabctlError naming the node otherwise."""
    result = run_when_ready(agent, lambda: clock_script(time.time()), CLOCK_TIMEOUT)
    if not result.ok:
        raise LabctlError(f"setting the clock of node '{agent.node}' failed: {result.stderr.strip()}")
