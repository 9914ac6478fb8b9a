"""Architecture keys as other codebases write them: named key formats, one owner.

Every format reads one key (a string, or the int/list/dict a JSON file holds) into the space's
architecture tuple and writes it back. The orders come from each codebase's own source:

- `nb201-string`: NAS-Bench-201's `'|op~0|+|op~0|op~1|+|op~0|op~1|op~2|'` (the space's key).
- `nb201-index`: the official API index as a bare integer (also `index:N`).
- `pada`: PA&DA's six-int "gene" (its `nasbench201_dict.npy` 'operation'): the position is
  `edge2index` of the sorted edge names `'1<-0','2<-0','2<-1','3<-0','3<-1','3<-2'`
  (nasbench201/models/search_cells.py, `self.edge_keys = sorted(...)`), the value an index
  into `NAS_BENCH_201 = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3",
  "avg_pool_3x3"]` (nasbench201/models/cell_operations.py). That is this space's own tuple.
- `naslib`: NASLib's `op_indices`: edges in `EDGE_LIST = ((1, 2), (1, 3), (1, 4), (2, 3), (2, 4),
  (3, 4))` (1-based nodes: 0->1, 0->2, 0->3, 1->2, 1->3, 2->3) and ops in `OP_NAMES_NB201 =
  ['skip_connect', 'none', 'nor_conv_3x3', 'nor_conv_1x1', 'avg_pool_3x3']`
  (naslib/search_spaces/nasbench201/conversions.py).
- `nni`: nni's NAS-Bench-201 query dict `{'0_1': op, '0_2': op, '1_2': op, '0_3': op, '1_3': op,
  '2_3': op}` ('i_j': from node i to node j) with ops `none, skip_connect, conv_1x1, conv_3x3,
  avg_pool_3x3` (nni/nas/benchmarks/nasbench201/db_gen.py `parse_arch_str`, constants.py).
- `macro` / `macro-int`: NAS-Bench-Macro's 8-digit code, and the same code saved as an integer
  (leading zeros lost, restored here).
- `pooling` (any pooling form), `pooling-bits`, `pooling-blocks`, `pooling-id`.

`auto` (FORMAT_AUTO) reads only what the space's own `parse` accepts: forms that cannot be
confused. Six bare integers mean different cells in NASLib and PA&DA, and a bare integer is an
NB-201 index only by convention, so those need the format named; `resolve_keys` says which
formats would read a file that `auto` refuses.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.errors import ArchKeyError
from harness.registry import Registry
from harness.spaces.base import Arch, get_space

FORMAT_AUTO = "auto"


@dataclass(frozen=True)
class KeyFormat:
    """One way of writing a space's architectures, with the source its order comes from.
    `factory` returns (read, write); it runs on first use, once the spaces are registered."""

    name: str
    space: str
    description: str
    source: str
    factory: Callable[[], tuple[Callable[[object], Arch], Callable[[Arch], str]]]

    def _functions(self) -> tuple[Callable, Callable]:
        if self.name not in _BUILT:
            _BUILT[self.name] = self.factory()
        return _BUILT[self.name]

    def write(self, arch: Arch) -> str:
        return self._functions()[1](tuple(arch))

    def parse(self, raw: object) -> Arch:
        """The architecture `raw` names; ArchKeyError (one line) otherwise."""
        space = get_space(self.space)
        try:
            arch = self._functions()[0](raw)
        except ArchKeyError:
            raise
        except (ValueError, TypeError, KeyError, IndexError, SyntaxError) as exc:
            raise ArchKeyError(f"{raw!r} is not a {self.name} key ({self.description}): "
                               f"{exc.__class__.__name__}") from None
        if not space.is_valid(arch):
            raise ArchKeyError(f"{raw!r} is not a {self.name} key: not a {self.space} architecture")
        return tuple(arch)


_BUILT: dict[str, tuple[Callable, Callable]] = {}
KEY_FORMATS: Registry[KeyFormat] = Registry("key format")


def register_key_format(name: str, space: str, description: str, source: str):
    """Decorator on a `() -> (read, write)` factory: registers it as a KeyFormat (lazily built)."""

    def decorator(factory: Callable[[], tuple[Callable, Callable]]):
        KEY_FORMATS.register(name)(KeyFormat(name, space, description, source, factory))
        return factory

    return decorator


def formats_of(space: str) -> list[KeyFormat]:
    return [KEY_FORMATS.get(n) for n in KEY_FORMATS.names() if KEY_FORMATS.get(n).space == space]


# ------------------------------------------------------------------- helpers

def _int_list(raw: object, n: int) -> list[int]:
    """Six ints from a list, or from text such as '(4, 3, 3, 0, 0, 0)' / '[4,2,1,2,1,1]'."""
    value = ast.literal_eval(raw.strip()) if isinstance(raw, str) else raw
    if not isinstance(value, (list, tuple)) or len(value) != n:
        raise ValueError(f"not a list of {n} integers")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ValueError(f"not a list of {n} integers")
    return list(value)


def _integer(raw: object) -> int:
    if isinstance(raw, bool):
        raise ValueError("a boolean, not an integer")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    text = str(raw).strip()
    if not text.isdigit():
        raise ValueError("not a non-negative integer")
    return int(text)


def _own_forms(space_name: str):
    """(read, write) of a space's own key forms: its `parse`, its canonical `key`."""
    space = get_space(space_name)
    return (lambda raw: space.parse(str(raw))), space.key


# ------------------------------------------------------------------- NAS-Bench-201

_NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
# NASLib: op index -> official op name; edge position -> this space's edge position.
_NASLIB_OPS = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
_NASLIB_EDGES = (0, 1, 3, 2, 4, 5)  # NASLib edge i is our edge _NASLIB_EDGES[i]
# nni: its edge names in our edge order, its op names in our op order.
_NNI_EDGES = ("0_1", "0_2", "1_2", "0_3", "1_3", "2_3")
_NNI_OPS = ("none", "skip_connect", "conv_1x1", "conv_3x3", "avg_pool_3x3")


@register_key_format("nb201-string", "nb201", "the official string '|op~0|+|op~0|op~1|+|...|'",
                     "NAS-Bench-201 (AutoDL-Projects) CellStructure.tostr()")
def _nb201_string():
    space = get_space("nb201")

    def read(raw):
        if not isinstance(raw, str) or raw.strip().lower().startswith("index:"):
            raise ValueError("not an architecture string")
        return space.parse(raw)

    return read, space.key


@register_key_format("nb201-index", "nb201", "the official API index 0..15624 ('N' or 'index:N')",
                     "NAS-Bench-201 API order (meta_archs), the row order of its files")
def _nb201_index():
    space = get_space("nb201")
    order = space.official_order

    def read(raw):
        text = str(raw).strip()
        n = _integer(text[len("index:"):] if text.lower().startswith("index:") else raw)
        archs = order()
        if n >= len(archs):
            raise ValueError(f"index {n} is beyond 15624")
        return archs[n]

    return read, lambda arch: str(space.official_index(arch))


@register_key_format("pada", "nb201", "PA&DA's six-int gene, e.g. '[4, 2, 1, 2, 1, 1]'",
                     "ShunLu91/PA-DA nasbench201/models/search_cells.py (edge_keys sorted: "
                     "1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2) and models/cell_operations.py "
                     "(NAS_BENCH_201 op list)")
def _pada():
    def read(raw):
        return tuple(_int_list(raw, 6))

    return read, lambda arch: "[" + ", ".join(str(a) for a in arch) + "]"


@register_key_format("naslib", "nb201", "NASLib's op_indices, e.g. '(4, 3, 3, 0, 0, 0)'",
                     "automl/NASLib naslib/search_spaces/nasbench201/conversions.py "
                     "(EDGE_LIST, OP_NAMES_NB201)")
def _naslib():
    to_ours = [_NB201_OPS.index(name) for name in _NASLIB_OPS]

    def read(raw):
        values = _int_list(raw, 6)
        arch = [0] * 6
        for i, op in enumerate(values):
            if not 0 <= op < len(to_ours):
                raise ValueError(f"op index {op} outside 0..4")
            arch[_NASLIB_EDGES[i]] = to_ours[op]
        return tuple(arch)

    def write(arch):
        ops = [to_ours.index(arch[_NASLIB_EDGES[i]]) for i in range(6)]
        return "(" + ", ".join(str(o) for o in ops) + ")"

    return read, write


@register_key_format("nni", "nb201", "nni's edge dict {'0_1': op, ..., '2_3': op}",
                     "microsoft/nni nni/nas/benchmarks/nasbench201/db_gen.py parse_arch_str, "
                     "constants.py PRIMITIVES")
def _nni():
    def read(raw):
        value = json.loads(raw) if isinstance(raw, str) else raw
        if not isinstance(value, dict) or sorted(value) != sorted(_NNI_EDGES):
            raise ValueError(f"not a dict with the edges {', '.join(_NNI_EDGES)}")
        return tuple(_NNI_OPS.index(value[edge]) for edge in _NNI_EDGES)

    def write(arch):
        return json.dumps({edge: _NNI_OPS[op] for edge, op in zip(_NNI_EDGES, arch)})

    return read, write


# ------------------------------------------------------------------- NAS-Bench-Macro

@register_key_format("macro", "nb-macro", "the 8-digit code, e.g. '02012100'",
                     "NAS-Bench-Macro's nas-bench-macro_cifar10.json keys")
def _macro():
    return _own_forms("nb-macro")


@register_key_format("macro-int", "nb-macro", "the 8-digit code saved as an integer (2012100)",
                     "the same code after a spreadsheet or an int column dropped its zeros")
def _macro_int():
    space = get_space("nb-macro")

    def read(raw):
        n = _integer(raw)
        text = str(n)
        if len(text) > 8:
            raise ValueError("more than 8 digits")
        return space.parse(text.zfill(8))

    return read, lambda arch: str(int(space.key(arch)))


# ------------------------------------------------------------------- pooling

@register_key_format("pooling", "pooling", "any pooling form: bits, blocks or benchmark id",
                     "the pooling benchmark's lookup table (number, blocks, code)")
def _pooling():
    return _own_forms("pooling")


@register_key_format("pooling-bits", "pooling", "the 10-bit code, e.g. '0000100100'",
                     "the pooling benchmark's lookup table, column code")
def _pooling_bits():
    space = get_space("pooling")

    def read(raw):
        text = str(raw).strip().replace(",", "")
        if len(text) != 10:
            raise ValueError("not 10 bits")
        return space.parse(text)

    return read, space.key


@register_key_format("pooling-blocks", "pooling", "blocks per resolution, e.g. '[4, 3, 3]'",
                     "the pooling benchmark's results file, column architecture")
def _pooling_blocks():
    space = get_space("pooling")

    def read(raw):
        return space.from_blocks(*_int_list(raw, 3))

    return read, lambda arch: "[" + ", ".join(str(b) for b in space.blocks(arch)) + "]"


@register_key_format("pooling-id", "pooling", "the benchmark id 1..36",
                     "the pooling benchmark's lookup table, column number")
def _pooling_id():
    space = get_space("pooling")
    archs = list(space.enumerate())

    def read(raw):
        n = _integer(str(raw).strip().removeprefix("id:").removeprefix("#"))
        if not 1 <= n <= len(archs):
            raise ValueError("id outside 1..36")
        return archs[n - 1]

    return read, lambda arch: str(archs.index(tuple(arch)) + 1)


# ------------------------------------------------------------------- resolving a file's keys

def key_format(name: str, space: str) -> KeyFormat | None:
    """The named format of `space` (None for auto); an error naming the space's formats."""
    if name == FORMAT_AUTO:
        return None
    fmt = KEY_FORMATS.get(name)
    if fmt.space != space:
        names = ", ".join(f.name for f in formats_of(space))
        raise ArchKeyError(f"--key-format {name} is a {fmt.space} format, not a {space} one; "
                           f"{space} formats: {FORMAT_AUTO}, {names}")
    return fmt


def readers_of(keys: Sequence[object], space: str) -> list[str]:
    """The formats of `space` that read every key."""
    out = []
    for fmt in formats_of(space):
        try:
            for raw in keys:
                fmt.parse(raw)
        except ArchKeyError:
            continue
        out.append(fmt.name)
    return out


def resolve_keys(keys: Sequence[object], space_name: str, fmt_name: str = FORMAT_AUTO,
                 where: str = "") -> list[Arch]:
    """Every key as an architecture of the space. `auto` reads only the space's own forms; a key
    it refuses gets one line naming the formats that would read the whole file."""
    space = get_space(space_name)
    fmt = key_format(fmt_name, space_name)
    prefix = f"{where}: " if where else ""
    archs, bad = [], []
    for raw in keys:
        try:
            if fmt is not None:
                archs.append(fmt.parse(raw))
            elif isinstance(raw, str):
                archs.append(space.parse(raw))
            else:  # an int, list or dict from a JSON file: only a named format reads it
                raise ArchKeyError(f"{raw!r} is a {type(raw).__name__}, not a key string")
        except ArchKeyError as exc:
            bad.append((raw, exc))
    if not bad:
        return archs
    shown = ", ".join(repr(b[0]) for b in bad[:3]) + (", ..." if len(bad) > 3 else "")
    readers = readers_of(keys, space_name) if fmt is None else []
    if len(readers) == 1:
        hint = f"they read as --key-format {readers[0]}; pass it to say so"
    elif readers:
        hint = (f"they could be any of --key-format {', '.join(readers)} (the same integers mean "
                "different architectures in each); pass the one your file was written with")
    else:
        named = ", ".join(f.name for f in formats_of(space_name))
        hint = (f"first problem: {bad[0][1]}" if fmt is not None else
                f"first problem: {bad[0][1]}; other codebases' formats: --key-format {named}")
    raise ArchKeyError(f"{prefix}{len(bad)} of {len(keys)} keys are not {space_name} "
                       f"architectures{' in ' + fmt.name if fmt else ''} ({shown}); {hint}")
