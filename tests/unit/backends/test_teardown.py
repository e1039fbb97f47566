"""labctl.backends.teardown.remove_all: every object is tried at once, one failure does not stop
the others, and what is reported does not depend on which thread finished first."""

from __future__ import annotations

import threading
import time

import pytest

from labctl.backends.teardown import Removal, remove_all
from labctl.errors import LabctlError

NAMES = ["n3", "n0", "n2", "n1", "n0"]  # unsorted, one twice (recorded and found by its label)


class Remover:
    """Removes n<i> after a delay that makes the threads finish in reverse name order; `fails`
    raise, `absent` are not there."""

    def __init__(self, fails: frozenset[str] = frozenset(), absent: frozenset[str] = frozenset()) -> None:
        self.fails, self.absent = fails, absent
        self.tried: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, name: str) -> bool:
        time.sleep(0.05 * (3 - int(name[1:])))
        with self.lock:
            self.tried.append(name)
        if name in self.fails:
            raise LabctlError(f"{name} is stuck")
        return name not in self.absent


def test_every_object_is_tried_and_the_lists_are_sorted_whatever_the_finishing_order() -> None:
    events: list[str] = []
    remover = Remover(fails=frozenset({"n1"}), absent=frozenset({"n2"}))
    removal = remove_all("domain", NAMES, remover, lambda _n, message: events.append(message))
    assert remover.tried == ["n3", "n2", "n1", "n0"]  # finished in reverse order, each once
    assert removal.removed == ["domain n0", "domain n3"]
    assert removal.failed == ["domain n1: n1 is stuck"]
    assert events == ["removed domain n3", "could not remove domain n1: n1 is stuck", "removed domain n0"]


def test_the_removals_run_at_the_same_time() -> None:
    barrier = threading.Barrier(4, timeout=5)  # broken unless all four removals wait at once

    def remove(_name: str) -> bool:
        barrier.wait()
        return True

    assert remove_all("bridge", NAMES, remove, lambda _n, _m: None).removed == [
        "bridge n0",
        "bridge n1",
        "bridge n2",
        "bridge n3",
    ]


def test_check_names_every_failure_in_one_line_after_all_were_tried() -> None:
    removal = remove_all("domain", NAMES, Remover(fails=frozenset({"n0", "n2"})), lambda _n, _m: None) + Removal(
        ["bridge b0"], []
    )
    with pytest.raises(LabctlError) as raised:
        removal.check("lab1")
    message = str(raised.value)
    assert "\n" not in message
    assert message == (
        "could not remove 2 objects of lab 'lab1' (the others are gone; run `labctl down lab1` again): "
        "domain n0: n0 is stuck; domain n2: n2 is stuck"
    )
    assert Removal(["domain n1"], []).check("lab1") == ["domain n1"]


def test_nothing_to_remove_starts_no_thread() -> None:
    assert remove_all("tap", [], Remover(), lambda _n, _m: None) == Removal()
