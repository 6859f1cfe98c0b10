"""The type stubs of the public API (src/fastconv/*.pyi, shipped with py.typed):
they agree with the runtime signatures (mypy's stubtest), and mypy accepts
correct calls and rejects wrong ones through them."""

import os
import subprocess
import sys
import textwrap

import pytest

import fastconv

pytest.importorskip("mypy")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CONFIG = os.path.join(ROOT, "pyproject.toml")

USAGE = textwrap.dedent("""
    import numpy as np
    import fastconv
    from scipy.sparse.linalg import lsqr

    x = np.zeros((1, 2, 5, 5), np.float32)
    w = np.zeros((3, 2, 3, 3), np.float32)
    y = fastconv.conv(x, w, padding="same", padding_mode="reflect", workers=2)
    p, idx = fastconv.max_pool(x, 2, return_indices=True)
    dx = fastconv.max_pool_grad(p, x, 2, indices=idx)
    y2, vjp = fastconv.conv_vjp(x, w, np.zeros(3), padding=1)
    gx, gw, gb = vjp(y2)
    total: float = float(gb.sum())
    with fastconv.threads(2):
        fastconv.conv_transpose2d(y, w, stride=2, output_padding=1)
    A = fastconv.ConvOperator(x.shape, w, padding=1)
    M = fastconv.conv_matrix(x.shape, w, padding=((1, 1), (0, 2)))
    s = fastconv.signal.correlate2d(x[0, 0], w[0, 0], boundary="symm")
    n = fastconv.ndimage.convolve(x[0, 0], w[0, 0], mode="mirror")
    reveal_type(idx)
    fastconv.conv(x, w, padding_mode="bogus")     # error: not a padding mode
    fastconv.signal.correlate(x, w, mode="nope")  # error: not a mode
    fastconv.max_pool(x, 2, strides=2)            # error: no such keyword
""")


def _run(args, cwd):
    env = dict(os.environ)
    # the fastconv this process imports (installed, or src/ of a development build)
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(fastconv.__file__))
    return subprocess.Popen([sys.executable, "-m", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_stubs_agree_with_the_runtime_and_type_check_usage(tmp_path):
    usage = tmp_path / "usage.py"
    usage.write_text(USAGE)
    cache = ["--cache-dir", str(tmp_path / "cache")]
    # both at once: each spends most of its time reading numpy's own stubs
    stubtest = _run(["mypy.stubtest", "fastconv", "--ignore-missing-stub",
                     "--mypy-config-file", CONFIG,
                     "--allowlist", os.path.join(HERE, "stubtest_allowlist.txt")], tmp_path)
    check = _run(["mypy", "--config-file", CONFIG, *cache, str(usage)], tmp_path)
    out_stubtest, _ = stubtest.communicate(timeout=600)
    out_check, _ = check.communicate(timeout=600)
    assert stubtest.returncode == 0, out_stubtest

    lines = USAGE.splitlines()
    errors = {}
    for line in out_check.splitlines():
        parts = line.split(":", 3)
        if len(parts) == 4 and parts[0].endswith("usage.py"):
            # "usage.py:LINE: error|note: message"
            errors.setdefault(int(parts[1]), []).append(f"{parts[2].strip()}: {parts[3].strip()}")
    expected = {i + 1 for i, text in enumerate(lines) if "# error" in text}
    got = {i for i, msgs in errors.items() if any(m.startswith("error") for m in msgs)}
    assert got == expected, out_check
    revealed = [m for i, msgs in errors.items() for m in msgs if "Revealed type" in m]
    assert revealed and "signedinteger" in revealed[0], out_check
