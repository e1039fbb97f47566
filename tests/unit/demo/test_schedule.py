"""labctl.demo.schedule: checks that change nothing another uses run at once; a check waits for
every earlier check it conflicts with."""

from __future__ import annotations

from labctl.backends.base import ExecResult
from labctl.demo.checks import check_types
from labctl.demo.model import PASS, Access, Probe, Verdict
from labctl.demo.schedule import check_access, conflict, startable, waits_for
from labctl.demo.spec import load_demo, validate_demo
from tests.unit.demo.conftest import REPO, shipped_plan

EVERYONE = ("a", "b", "pbx", "r")


def probe(node: str, access: Access | None, gate: str | None = None) -> Probe:
    def judge(_result: ExecResult) -> Verdict:
        return Verdict(PASS)

    return Probe("c", node, node, "true", judge, access=access, skip_unless=(gate, "true") if gate else None)


def reads(*nodes: str) -> Access:
    return Access(reads=frozenset(nodes))


def changes(*nodes: str) -> Access:
    return Access(writes=frozenset(nodes))


def test_a_check_reads_its_probes_nodes_and_gates_and_an_undeclared_probe_may_change_every_node() -> None:
    assert check_access([probe("a", reads("b"), gate="r")], EVERYONE) == Access(reads=frozenset({"a", "b", "r"}))
    assert check_access([probe("a", reads()), probe("b", None)], EVERYONE).writes == frozenset(EVERYONE)


def test_readers_never_conflict_a_writer_conflicts_with_whoever_uses_its_nodes() -> None:
    assert not conflict(reads("a", "b"), reads("a", "b"))
    assert conflict(changes("pbx"), reads("pbx"))
    assert conflict(reads("pbx"), changes("pbx"))
    assert conflict(changes("a"), changes("a"))
    assert not conflict(changes("a", "pbx"), changes("b"))


def test_a_check_waits_only_for_earlier_conflicting_checks() -> None:
    accesses = [reads(*EVERYONE), reads("r"), changes("a", "pbx"), changes("b"), changes("pbx", "b")]
    assert waits_for(accesses) == [
        frozenset(),
        frozenset(),
        frozenset({0}),
        frozenset({0}),
        frozenset({0, 2, 3}),
    ]


def test_startable_checks_come_in_the_demos_order_once_what_they_wait_for_has_finished() -> None:
    waits = waits_for([reads(*EVERYONE), reads("r"), changes("a"), changes("b"), changes("a", "b")])
    assert startable(waits, set(), frozenset()) == [0, 1]
    assert startable(waits, {0, 1}, frozenset({1})) == []
    assert startable(waits, {0, 1}, frozenset({0, 1})) == [2, 3]
    assert startable(waits, {0, 1, 2, 3}, frozenset({0, 1, 3})) == []
    assert startable(waits, {0, 1, 2, 3}, frozenset({0, 1, 2, 3})) == [4]


def test_checks_that_declare_nothing_run_one_after_the_other() -> None:
    accesses = [check_access([probe(n, None)], EVERYONE) for n in ("a", "b", "r")]
    assert waits_for(accesses) == [frozenset(), frozenset({0}), frozenset({0, 1})]


def test_the_shipped_ospf_dns_demo_only_reads_so_its_checks_all_start_at_once() -> None:
    plan = shipped_plan("ospf-dns")
    expanded = validate_demo(load_demo(str(REPO / "demos" / "ospf-dns.yaml"), check_types()), plan)
    waits = waits_for([check_access(probes, [n.name for n in plan.nodes]) for probes in expanded])
    assert len(waits) == 5 and all(not before for before in waits)


def test_the_shipped_voip_demo_runs_sip_checks_on_other_phones_at_once() -> None:
    plan = shipped_plan("voip-demo")
    expanded = validate_demo(load_demo(str(REPO / "demos" / "voip-demo.yaml"), check_types()), plan)
    accesses = [check_access(probes, [n.name for n in plan.nodes]) for probes in expanded]
    waits = waits_for(accesses)
    assert waits[:2] == [frozenset(), frozenset()]  # ping_by_name and ospf_neighbors at once
    for j, access in enumerate(accesses):  # two checks that change one phone never overlap
        assert all(i in waits[j] for i in range(j) if accesses[i].writes & access.writes), j
    rounds: list[int] = []
    for before in waits:
        rounds.append(1 + max((rounds[i] for i in before), default=0))
    # pings | REGISTER | a->b c->d | b->a d->c | a->c b->d | c->a d->b | sipp ...: 9 rounds, not 16
    assert rounds == [1, 1, 2, 3, 4, 3, 4, 5, 6, 5, 6, 7, 8, 8, 9, 9]
