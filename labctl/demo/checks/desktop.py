"""desktop_phone: a desktop phone's Linphone GUI is on its screen and registered.

The script lists the titles of the windows on the desktop's X display (wmctrl, as the desktop's
user) and the last registration state the GUI logged in this session (the desktop role clears its
log when the session starts), as the phone's control script reads it (`registered`). The judge
wants a window titled exactly "Linphone" and the state LinphoneRegistrationOk; a missing section,
an unreadable state or any other state is a FAIL.
"""

from __future__ import annotations

from labctl.backends.base import ExecResult
from labctl.compile.plan import LabPlan
from labctl.demo.checks import Params, register
from labctl.demo.model import FAIL, PASS, Probe, Verdict, reads_only
from labctl.roles import catalogue

END = "--- end"
WINDOW = "Linphone"
REGISTERED = "LinphoneRegistrationOk"


def command() -> str:
    home = catalogue().role("desktop").path("home")
    control = catalogue().role("phone").path("control")  # its `registered`: the GUI's last state
    return (
        f"export DISPLAY=:0 XAUTHORITY={home}/.Xauthority\n"
        'echo "--- windows"; runuser -u lab -- wmctrl -l 2>&1 | cut -d" " -f5-\n'
        f'echo "--- registration"; {control} registered\n'
        f'echo "{END}"'
    )


def sections(text: str) -> dict[str, list[str]] | None:
    """The lines under each `--- name` header, None when the end marker is missing."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line == END:
            return found
        if line.startswith("--- "):
            current = found.setdefault(line[4:], [])
        elif current is not None:
            current.append(line.strip())
    return None


def judge(result: ExecResult) -> Verdict:
    parts = sections(result.stdout) if result.exit_code == 0 else None
    if parts is None or "windows" not in parts or "registration" not in parts:
        said = (result.stderr.strip() or result.stdout.strip() or "no output").splitlines()[-1][:120]
        return Verdict(FAIL, f"the desktop probe did not finish (exit {result.exit_code}): {said}")
    windows, state = parts["windows"], " ".join(parts["registration"]).strip()
    if WINDOW not in windows:
        shown = ", ".join(w for w in windows if w)[:120] or "none"
        return Verdict(FAIL, f"no window titled {WINDOW} on the desktop (windows: {shown})")
    if state != REGISTERED:
        return Verdict(FAIL, f"the {WINDOW} window is open, but its account is {state or 'not registering'}")
    return Verdict(PASS, f"the {WINDOW} window is open and its account registered")


@register("desktop_phone", ("phones",))
def desktop_phone(plan: LabPlan, params: Params) -> list[Probe]:
    desktops = [n.name for n in plan.nodes if n.phone is not None and n.desktop is not None]
    if not desktops:
        raise params.error("the lab has no desktop phone (a phone with `desktop: true`)")
    names = params.nodes(plan, "phones", desktops)
    if stray := [n for n in names if n not in desktops]:
        raise params.error(f"{', '.join(stray)} is not a desktop phone")
    return [
        Probe(
            check="desktop_phone",
            subject=f"{name} (Linphone GUI)",
            node=name,
            command=command(),
            judge=judge,
            **params.timing(120, 5),
            command_timeout=30,
            access=reads_only(plan),
        )
        for name in names
    ]
