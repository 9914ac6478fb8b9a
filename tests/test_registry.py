"""The registry style every registry uses: decorators where an entry is defined, and the modules
that define built-ins imported on the first lookup (no hand-kept import list)."""

from __future__ import annotations

import sys
import textwrap

import pytest

from harness.errors import UnknownNameError
from harness.registry import Registry


@pytest.fixture
def provider_package(tmp_path, monkeypatch):
    """A package `toyreg` whose modules register into `toyreg.base.THINGS` (one reads another's
    entry while it is being imported, as the key formats read the spaces)."""
    root = tmp_path / "toyreg"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "base.py").write_text(textwrap.dedent("""
        from harness.registry import Registry
        THINGS = Registry("thing", providers="toyreg")
        IMPORTED = []
    """))
    (root / "a_reader.py").write_text(textwrap.dedent("""
        from toyreg.base import IMPORTED, THINGS
        IMPORTED.append("a_reader")
        THINGS.add("derived", THINGS.get("zeta") + 1)  # zeta's module sorts after this one
    """))
    (root / "zeta.py").write_text(textwrap.dedent("""
        from toyreg.base import IMPORTED, THINGS
        IMPORTED.append("zeta")
        THINGS.add("zeta", 41)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in [m for m in sys.modules if m == "toyreg" or m.startswith("toyreg.")]:
        del sys.modules[name]


def test_built_ins_are_imported_on_the_first_lookup_only(provider_package):
    from toyreg.base import IMPORTED, THINGS

    assert IMPORTED == []  # nothing is imported until the registry is asked
    assert THINGS.get("derived") == 42
    assert sorted(IMPORTED) == ["a_reader", "zeta"] and THINGS.names() == ["derived", "zeta"]
    with pytest.raises(UnknownNameError, match="did you mean 'zeta'"):
        THINGS.get("zata")


def test_a_plugin_registering_first_still_meets_the_built_ins(provider_package):
    from toyreg.base import IMPORTED, THINGS

    THINGS.add("mine", 1)  # before any lookup: registering imports nothing
    assert IMPORTED == []
    assert THINGS.names() == ["derived", "mine", "zeta"]
    with pytest.raises(ValueError, match="registered twice"):
        THINGS.add("zeta", 0)


def test_swapped_restores_the_entry():
    things: Registry[int] = Registry("thing")
    things.add("a", 1)
    with things.swapped("a", 2):
        assert things.get("a") == 2
    with things.swapped("b", 3):
        assert "b" in things
    assert things.get("a") == 1 and "b" not in things


def test_every_built_in_registry_fills_itself_without_its_package_init():
    """The packages' __init__ files import no module just to register it: each registry loads
    its providers itself (checked in a fresh process, from the registry's own module)."""
    import subprocess

    code = ("from harness.samplers.base import SAMPLERS; from harness.spaces.base import SPACES;"
            "from harness.nets.common import NETS; from harness.benchmarks.base import BENCHMARKS;"
            "from harness.search.base import SEARCHES; from harness.perf.sections import SECTIONS;"
            "print(len(SAMPLERS), len(SPACES), len(NETS), len(BENCHMARKS), len(SEARCHES),"
            " len(SECTIONS))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    samplers, spaces, nets, benchmarks, searches, sections = map(int, out.stdout.split())
    assert samplers >= 5 and spaces == 4 and nets == 4 and benchmarks >= 9
    assert searches == 3 and sections >= 7


def test_a_provider_that_fails_to_import_fails_every_lookup(tmp_path, monkeypatch):
    """Not a silent half registry: the broken module's entries are taken back and every lookup
    raises its error again (a later fix of the module is then picked up)."""
    root = tmp_path / "brokenreg"
    root.mkdir()
    (root / "__init__.py").write_text("from harness.registry import Registry\n"
                                      "THINGS = Registry('thing', providers='brokenreg')\n")
    (root / "good.py").write_text("from brokenreg import THINGS\nTHINGS.add('good', 1)\n")
    (root / "half.py").write_text("from brokenreg import THINGS\nTHINGS.add('half', 2)\n"
                                  "raise RuntimeError('half is broken')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        from brokenreg import THINGS

        assert THINGS.get("good") == 1  # found before the broken module is reached
        for _ in range(2):
            with pytest.raises(RuntimeError, match="half is broken"):
                THINGS.names()
            assert "half" not in THINGS._items
        (root / "half.py").write_text("from brokenreg import THINGS\nTHINGS.add('half', 2)\n")
        assert THINGS.get("half") == 2 and THINGS.names() == ["good", "half"]
    finally:
        for name in [m for m in sys.modules if m == "brokenreg" or m.startswith("brokenreg.")]:
            del sys.modules[name]
