"""GuestAgent.exec: what its errors say. libvirt_qemu is replaced by a fake guest agent that never
lets the command finish; the point is the message, not whether the agent works."""

from __future__ import annotations

import base64
import json
from types import SimpleNamespace
from typing import Any

import libvirt
import libvirt_qemu
import pytest

from labctl.backends.libvirt import agent as agent_module
from labctl.backends.libvirt.agent import AgentError, GuestAgent
from labctl.demo.checks.sip import sipp_command
from labctl.demo.model import first_line
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
    monkeypatch.setattr(agent_module, "time", SimpleNamespace(monotonic=clock.monotonic))
    monkeypatch.setattr(agent_module, "cancel", SimpleNamespace(sleep=clock.sleep))  # waits end on Ctrl-C
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


# -- GuestAgent.read_file ------------------------------------------------------------------------
class FileAgent:
    """A fake guest agent serving one file, `chunk` bytes per guest-file-read at most."""

    def __init__(self, files: dict[str, bytes], chunk: int) -> None:
        self.files = files
        self.chunk = chunk
        self.open: dict[int, list[Any]] = {}
        self.closed: list[int] = []

    def __call__(self, _domain: object, request: str, _timeout: int, _flags: int) -> str:
        data = json.loads(request)
        command, args = data["execute"], data.get("arguments", {})
        if command == "guest-file-open":
            if args["path"] not in self.files or args["mode"] != "r":
                raise libvirt.libvirtError(f"failed to open file '{args['path']}': No such file or directory")
            handle = 1000 + len(self.open)
            self.open[handle] = [self.files[args["path"]], 0]
            return json.dumps({"return": handle})
        if command == "guest-file-read":
            content, at = self.open[args["handle"]]
            piece = content[at : at + min(args["count"], self.chunk)]
            self.open[args["handle"]][1] = at + len(piece)
            eof = at + len(piece) >= len(content)
            return json.dumps(
                {"return": {"count": len(piece), "buf-b64": base64.b64encode(piece).decode(), "eof": eof}}
            )
        assert command == "guest-file-close"
        self.closed.append(args["handle"])
        return json.dumps({"return": {}})


def file_agent(monkeypatch: pytest.MonkeyPatch, files: dict[str, bytes], chunk: int = 1000) -> FileAgent:
    fake = FileAgent(files, chunk)
    monkeypatch.setattr(libvirt_qemu, "qemuAgentCommand", fake)
    return fake


def test_read_file_reads_every_chunk_and_closes(monkeypatch: pytest.MonkeyPatch) -> None:
    content = bytes(range(256)) * 20  # 5120 bytes: six reads of 1000 at most
    fake = file_agent(monkeypatch, {"/tmp/x.pcap": content, "/tmp/empty": b""})
    agent = GuestAgent(object(), "alice")
    assert agent.read_file("/tmp/x.pcap", limit=5120) == content
    assert agent.read_file("/tmp/empty", limit=10) == b""
    assert fake.closed == [1000, 1001]


def test_read_file_refuses_a_file_over_the_limit_and_still_closes(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = file_agent(monkeypatch, {"/tmp/big.pcap": b"x" * (3 << 20)}, chunk=agent_module.READ_CHUNK)
    with pytest.raises(AgentError) as caught:
        GuestAgent(object(), "alice").read_file("/tmp/big.pcap", limit=2 << 20)
    assert str(caught.value) == "/tmp/big.pcap on 'alice' is larger than 2 MiB"
    assert fake.closed == [1000] and fake.open[1000][1] <= (2 << 20) + agent_module.READ_CHUNK  # stopped reading


def test_read_file_of_a_missing_file_is_one_agent_error(monkeypatch: pytest.MonkeyPatch) -> None:
    file_agent(monkeypatch, {})
    with pytest.raises(AgentError) as caught:
        GuestAgent(object(), "alice").read_file("/tmp/none.pcap", limit=10)
    assert str(caught.value).startswith(
        "cannot read /tmp/none.pcap on 'alice' (guest agent on 'alice': guest-file-open"
    )
    assert "\n" not in str(caught.value)
