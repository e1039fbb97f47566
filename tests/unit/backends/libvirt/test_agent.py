"""GuestAgent.exec: what its errors say. libvirt_qemu is replaced by a fake guest agent that never
lets the command finish; the point is the message, not whether the agent works."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import libvirt_qemu
import pytest

from labctl.backends.libvirt import agent as agent_module
from labctl.backends.libvirt.agent import AgentError, GuestAgent
from labctl.demo.checks.sip import sipp_command
from labctl.demo.runner import first_line
from tests.unit.backends.libvirt.fakes import Clock

SECRET = "s3cret-Pa55"


def never_finishes(_domain: object, request: str, _timeout: int, _flags: int) -> str:
    command = json.loads(request)["execute"]
    answers: dict[str, dict[str, Any]] = {"guest-exec": {"pid": 7}, "guest-exec-status": {"exited": False}}
    answer = answers[command]
    return json.dumps({"return": answer})


@pytest.fixture
def stuck_agent(monkeypatch: pytest.MonkeyPatch) -> GuestAgent:
    clock = Clock()
    monkeypatch.setattr(agent_module, "time", SimpleNamespace(monotonic=clock.monotonic, sleep=clock.sleep))
    monkeypatch.setattr(libvirt_qemu, "qemuAgentCommand", never_finishes)
    return GuestAgent(object(), "alice")


def test_a_timeout_names_the_node_and_the_program_but_not_the_arguments(stuck_agent: GuestAgent) -> None:
    with pytest.raises(AgentError) as caught:
        stuck_agent.exec(["/bin/sh", "-c", f"sipp 10.0.0.1:5060 -ap {SECRET}"], timeout=45)
    assert str(caught.value) == "command on 'alice' did not finish within 45 s (/bin/sh)"


@pytest.mark.parametrize("password", [SECRET, "", "x\ny", "\x1b[31m;rm -rf /"])
def test_a_timed_out_sipp_check_never_shows_the_password(stuck_agent: GuestAgent, password: str) -> None:
    """The runner reports the first line of the error: neither it nor the rest holds the password."""
    node = SimpleNamespace(interfaces=[SimpleNamespace(ip="10.0.0.5")], address="10.255.0.5")
    ph = SimpleNamespace(registrar_address="10.0.0.1", user="alice")
    command = sipp_command(node, ph, "reg-ok.xml", "alice", password)  # type: ignore[arg-type]
    with pytest.raises(AgentError) as caught:
        stuck_agent.exec(["/bin/sh", "-c", command], timeout=45)
    assert "sipp" not in str(caught.value) and "-ap" not in str(caught.value)
    if password.strip():
        assert password not in str(caught.value) and password not in first_line(str(caught.value))
