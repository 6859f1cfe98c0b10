"""show_config and the FASTCONV_ISA cap: one level for every kernel family."""

import os
import subprocess
import sys

import pytest

import fastconv
from fastconv import _config


def _levels_under(cap):
    code = ("import fastconv._config as c; "
            "print(*[m.isa_level() for m in c._isa_modules()]); print(*c.isa_levels())")
    env = dict(os.environ, FASTCONV_ISA=cap)
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                         capture_output=True, text=True).stdout.split("\n")
    return out[0].split(), out[1].split()


@pytest.mark.parametrize("cap", ["generic", "sse2", "avx2", "avx512"])
def test_the_cap_reaches_every_family(cap):
    """Filter rows, direct/depthwise, implicit GEMM, pooling and local kernels all
    run at min(cap, the CPU's level)."""
    names = list(_config.ISA_NAMES[:4])
    best = _config.isa_levels()[1]
    expect = cap if names.index(cap) <= names.index(
        "sse2" if best == "neon" else best) else best
    if best == "neon" and expect == "sse2":
        expect = "neon"
    per_module, (used, cpu) = _levels_under(cap)
    assert per_module == [expect] * len(_config.ISA_MODULES)
    assert (used, cpu) == (expect, best)


def test_show_config_names_the_level_the_cap_and_the_cpu(monkeypatch):
    import io
    monkeypatch.setenv("FASTCONV_ISA", "generic")
    try:
        _config.apply_isa_cap()
        buf = io.StringIO()
        fastconv.show_config(file=buf)
        isa = [line for line in buf.getvalue().splitlines() if line.split(":")[0].strip() == "isa"]
        assert isa == [f"       isa: generic (FASTCONV_ISA cap: generic; the CPU has "
                       f"{_config.isa_levels()[1]})"]
    finally:
        monkeypatch.delenv("FASTCONV_ISA")
        _config.apply_isa_cap()
    assert _config.isa_levels()[0] == _config.isa_levels()[1]


def test_an_unknown_cap_warns_and_is_ignored(monkeypatch):
    monkeypatch.setenv("FASTCONV_ISA", "avx1024")
    with pytest.warns(RuntimeWarning, match="FASTCONV_ISA"):
        assert _config.isa_cap() is None
