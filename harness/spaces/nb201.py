"""NAS-Bench-201: a 4-node cell with 6 edges and 5 operations (5^6 = 15625 cells).

Edges follow the official string "|op~0|+|op~0|op~1|+|op~0|op~1|op~2|": (1<-0), (2<-0), (2<-1),
(3<-0), (3<-1), (3<-2). Keys are that string; "index:N" is the official API index (0..15624,
`api[N]`, the row order of the benchmark's files). `enumerate()` keeps itertools.product order.
The official order is that product order (the official `CellStructure.gen_all` nests the
edges the same way, ops in OPS order) shuffled by Python's `random.Random(88).shuffle`, as
NAS-Bench-201 generated its meta file; the tests check it against all 15,625 published rows.

Equivalence follows the official `CellStructure.to_unique_str(consider_zero=True)`, which is what
gives the published 6466 distinct cells. Each node gets a string: node 0 is "0"; each incoming edge
gives a term, "#" when the op is "none" or the input node's string is exactly "#", the input string
for "skip_connect", and "(input)@op" otherwise; the node's string is "+".join(sorted(terms)).
Cells are equivalent when their node-3 strings match. Two details of that convention matter:
zero terms are kept as "#" (so "a" and "#+a" differ), and a node is zero only when its string is
exactly "#", which only node 1 (one input) can be. Dropping zero terms and propagating zeros fully
(the functional definition: a sum of zeros is zero) merges more cells and gives 5390 classes, not
6466; keeping the terms as sorted multisets is what the benchmark's 6466 counts.
"""

from __future__ import annotations

import itertools
import random
from functools import cached_property

from harness.spaces.base import Arch, SearchSpace, register_space

OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (to, from), in key order
N_NODES = 4
ZERO = "#"
FORMS = (
    "'|op~0|+|op~0|op~1|+|op~0|op~1|op~2|' with op in " + "/".join(OPS),
    "'index:N' with N the official API index in 0..15624",
)
_ENTRIES = tuple(tuple(f"{op}~{src}" for op in OPS) for src in range(N_NODES - 1))
# The seed of NAS-Bench-201's shuffle of gen_all() into its official index order.
OFFICIAL_ORDER_SEED = 88


def unique_str(arch: Arch) -> str:
    """The official isomorphism string of the cell (node 3), see the module docstring."""
    nodes = ["0"]
    for to in range(1, N_NODES):
        terms = []
        for (dst, src), op_index in zip(EDGES, arch):
            if dst != to:
                continue
            op, x = OPS[op_index], nodes[src]
            if op == "none" or x == ZERO:
                terms.append(ZERO)
            elif op == "skip_connect":
                terms.append(x)
            else:
                terms.append(f"({x})@{op}")
        nodes.append("+".join(sorted(terms)))
    return nodes[-1]


@register_space("nb201")
class NB201Space(SearchSpace):
    """NAS-Bench-201 cell space; `canonical` maps a cell to the first isomorphic one."""

    description = "NAS-Bench-201 cell, 6 edges x 5 ops, 15625 cells (6466 distinct)"

    @property
    def choices(self) -> list[list[str]]:
        return [list(OPS) for _ in EDGES]

    def key(self, arch: Arch) -> str:
        # One format string over precomputed "op~src" entries: a benchmark load keys 15,625 cells.
        a0, a1, a2, a3, a4, a5 = arch
        e0, e1, e2 = _ENTRIES
        return f"|{e0[a0]}|+|{e0[a1]}|{e1[a2]}|+|{e0[a3]}|{e1[a4]}|{e2[a5]}|"

    def parse(self, text: str) -> Arch:
        s = text.strip()
        if s.lower().startswith("index:"):
            n = s[len("index:") :].strip()
            if not n.isdigit() or int(n) >= len(self._official_order):
                raise self._reject(text, f"index must be an integer in 0..{self.size - 1}", FORMS)
            return self._official_order[int(n)]
        groups = s.split("+")
        if len(groups) != N_NODES - 1:
            raise self._reject(text, f"{len(groups)} node groups, not 3", FORMS)
        arch: list[int] = []
        for node, group in enumerate(groups, start=1):
            if len(group) < 2 or group[0] != "|" or group[-1] != "|":
                raise self._reject(text, f"node {node} group {group!r} is not '|...|'", FORMS)
            entries = group[1:-1].split("|")
            if len(entries) != node:
                raise self._reject(
                    text, f"node {node} has {len(entries)} inputs, not {node}", FORMS
                )
            for src, entry in enumerate(entries):
                op, sep, j = entry.partition("~")
                if not sep or j != str(src):
                    raise self._reject(
                        text, f"entry {entry!r} of node {node} is not 'op~{src}'", FORMS
                    )
                if op not in OPS:
                    raise self._reject(text, f"unknown op {op!r}", FORMS)
                arch.append(OPS.index(op))
        return tuple(arch)

    def unique_str(self, arch: Arch) -> str:
        return unique_str(arch)

    def official_order(self) -> list[Arch]:
        return list(self._official_order)

    def official_index(self, arch: Arch) -> int | None:
        return self._official_index[tuple(arch)]

    def key_forms(self, arch: Arch) -> list[str]:
        return [self.key(arch), f"index:{self.official_index(arch)}"]

    def canonical(self, arch: Arch) -> Arch:
        return self._representatives[unique_str(arch)]

    @cached_property
    def _all(self) -> list[Arch]:
        return list(itertools.product(range(len(OPS)), repeat=len(EDGES)))

    @cached_property
    def _official_order(self) -> list[Arch]:
        order = list(self._all)
        random.Random(OFFICIAL_ORDER_SEED).shuffle(order)
        return order

    @cached_property
    def _official_index(self) -> dict[Arch, int]:
        return {arch: i for i, arch in enumerate(self._official_order)}

    @cached_property
    def _representatives(self) -> dict[str, Arch]:
        """Isomorphism string -> first cell with it in enumeration order."""
        reps: dict[str, Arch] = {}
        for arch in self._all:
            reps.setdefault(unique_str(arch), arch)
        return reps
