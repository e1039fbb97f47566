"""The qemu guest agent, spoken through libvirt: files and commands without a guest network."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import libvirt
import libvirt_qemu

from labctl import cancel
from labctl.backends.base import ExecResult
from labctl.errors import LabctlError

CHUNK = 48 * 1024
READ_CHUNK = 1 << 20  # one guest-file-read: 1.4 MB of base64 in the reply, well under libvirt's message size
COMMAND_TIMEOUT = 10  # seconds libvirt waits for one agent reply


class AgentError(LabctlError):
    pass


class GuestAgent:
    def __init__(self, domain: libvirt.virDomain, node: str) -> None:
        self.domain = domain
        self.node = node

    def call(self, command: str, arguments: dict[str, Any] | None = None, timeout: int = COMMAND_TIMEOUT) -> Any:
        request: dict[str, Any] = {"execute": command}
        if arguments:
            request["arguments"] = arguments
        try:
            reply = libvirt_qemu.qemuAgentCommand(self.domain, json.dumps(request), timeout, 0)
        except libvirt.libvirtError as exc:
            raise AgentError(f"guest agent on '{self.node}': {command} failed: {exc.get_error_message()}") from None
        return json.loads(reply)["return"]

    def ping(self) -> bool:
        try:
            self.call("guest-ping", timeout=2)
            return True
        except AgentError:
            return False

    def write_file(self, path: str, data: bytes) -> None:
        handle = self.call("guest-file-open", {"path": path, "mode": "w"})
        try:
            for start in range(0, max(len(data), 1), CHUNK):
                chunk = data[start : start + CHUNK]
                self.call("guest-file-write", {"handle": handle, "buf-b64": base64.b64encode(chunk).decode()})
        finally:
            self.call("guest-file-close", {"handle": handle})

    def read_file(self, path: str, limit: int) -> bytes:
        """The file's bytes, read a chunk at a time; AgentError once it holds more than `limit`."""
        try:
            handle = self.call("guest-file-open", {"path": path, "mode": "r"})
        except AgentError as exc:
            raise AgentError(f"cannot read {path} on '{self.node}' ({exc})") from None
        data = bytearray()
        try:
            while True:
                reply = self.call("guest-file-read", {"handle": handle, "count": READ_CHUNK})
                data += base64.b64decode(reply.get("buf-b64", ""))
                if len(data) > limit:
                    raise AgentError(f"{path} on '{self.node}' is larger than {limit >> 20} MiB")
                if reply.get("eof") or not reply.get("count"):
                    return bytes(data)
        finally:
            self.call("guest-file-close", {"handle": handle})

    def exec(self, argv: list[str], timeout: float, stdin: bytes | None = None) -> ExecResult:
        args: dict[str, Any] = {"path": argv[0], "arg": argv[1:], "capture-output": True}
        if stdin is not None:
            args["input-data"] = base64.b64encode(stdin).decode()
        pid = self.call("guest-exec", args)["pid"]
        deadline = time.monotonic() + timeout
        delay = 0.02
        while True:
            status = self.call("guest-exec-status", {"pid": pid})
            if status.get("exited"):
                return ExecResult(
                    exit_code=int(status.get("exitcode", -1 if "signal" not in status else 128 + status["signal"])),
                    stdout=_decode(status.get("out-data")),
                    stderr=_decode(status.get("err-data")),
                )
            if time.monotonic() > deadline:
                # argv[0] only: the rest can hold secrets (a sipp command carries a SIP password)
                # and this message reaches demo reports and the terminal.
                raise AgentError(f"command on '{self.node}' did not finish within {timeout:.0f} s ({argv[0]})")
            cancel.sleep(delay)  # Ctrl-C ends a long command's wait at once
            delay = min(delay * 2, 0.25)


def _decode(data: str | None) -> str:
    return base64.b64decode(data).decode(errors="replace") if data else ""
