"""Which demo checks may run at once. Pure: no threads here, the runner asks.

A check reads the nodes its probes run on (and their gates), plus what its probes declare
(model.Access); a probe that declares nothing may change any node. Two checks conflict when one
changes a node the other reads or changes. A check waits for every earlier check it conflicts
with, so two checks that share a node keep the demo's order; checks that only read run together.
The report keeps the demo's order whatever finished first (the runner reports in order).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from labctl.demo.model import Access, Probe


def check_access(probes: Sequence[Probe], everyone: Collection[str]) -> Access:
    reads: set[str] = set()
    writes: set[str] = set()
    for probe in probes:
        reads.add(probe.node)
        if probe.skip_unless is not None:
            reads.add(probe.skip_unless[0])
        if probe.access is None:
            writes.update(everyone)
        else:
            reads |= probe.access.reads
            writes |= probe.access.writes
    return Access(frozenset(reads), frozenset(writes))


def conflict(a: Access, b: Access) -> bool:
    return bool(a.writes & (b.reads | b.writes) or b.writes & a.reads)


def waits_for(accesses: Sequence[Access]) -> list[frozenset[int]]:
    """For each check, the earlier checks it must wait for."""
    return [frozenset(i for i in range(j) if conflict(accesses[i], accesses[j])) for j in range(len(accesses))]


def startable(waits: Sequence[frozenset[int]], started: Collection[int], finished: frozenset[int]) -> list[int]:
    """The checks not started yet whose every earlier conflicting check has finished, in order."""
    return [j for j, before in enumerate(waits) if j not in started and before <= finished]
