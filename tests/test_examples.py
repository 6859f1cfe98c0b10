"""Run every script in ``examples/`` as a user would, and check that it succeeds.

Each ``examples/*.py`` (found by glob, so a new example is picked up without
touching this file) runs in a subprocess with the current interpreter, from the
repository root, with a 120 s timeout.  A run passes when the script exits with
status 0 and the last non-empty line it prints to stdout starts with
``check:`` and says ``OK`` (and not ``FAIL``).

Conventions of an example file
------------------------------
An example is never imported here: the two optional module-level names below
are read from its source with :mod:`ast` and must be plain literals.

``REQUIRES = ("dask",)``
    Top-level modules the example needs beyond fastconv's own dependencies.
    If one of them cannot be found (``importlib.util.find_spec``), the example
    is skipped, not failed.  An example with a fallback for a missing optional
    package (``cnn.py`` without scikit-learn) does not list it.
``TEST_ARGS = ((), ("--synthetic",))``
    The command lines to test, one run (and one test) per tuple of arguments.
    Default: a single run without arguments.  Use it to keep a run short
    (e.g. ``(("--quick",),)``): this whole file should take ~90 s at most on a
    2-core machine.

The subprocess must import the same fastconv as this test session (an editable
checkout with ``PYTHONPATH=src``, or an installed wheel when the tests run from
the repository root, where ``src/`` holds no built extensions): the directory
holding the imported ``fastconv`` package is put first on its ``PYTHONPATH``.

Skip these (slow) tests with ``-k "not test_examples"`` or by setting
``FASTCONV_SKIP_EXAMPLES=1``.
"""

import ast
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import fastconv

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
TIMEOUT = 120  # seconds per run

pytestmark = pytest.mark.skipif(
    os.environ.get("FASTCONV_SKIP_EXAMPLES", "") not in ("", "0"),
    reason="FASTCONV_SKIP_EXAMPLES is set")


def _conventions(path):
    """``(requires, runs)`` read from the example's module-level literals."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name) and target.id in ("REQUIRES", "TEST_ARGS"):
                try:
                    found[target.id] = ast.literal_eval(value)
                except ValueError as exc:
                    raise ValueError(f"{path.name}: {target.id} must be a literal") from exc
    requires = tuple(found.get("REQUIRES", ()))
    runs = tuple(tuple(str(a) for a in args) for args in found.get("TEST_ARGS", ((),)))
    if not all(isinstance(r, str) for r in requires):
        raise ValueError(f"{path.name}: REQUIRES must be a tuple of module names")
    return requires, runs


def _cases():
    cases = []
    for path in EXAMPLES:
        try:
            requires, runs = _conventions(path)
        except (SyntaxError, ValueError) as exc:  # reported as a failing test, not at collection
            cases.append(pytest.param(path, (), exc, id=path.stem))
            continue
        for args in runs:
            name = "_".join([path.stem] + [a.lstrip("-") for a in args])  # cnn_synthetic_check
            cases.append(pytest.param(path, args, requires, id=name))
    return cases


def _subprocess_env():
    """The environment of this session, with the imported fastconv's parent directory
    first on PYTHONPATH (src/ in a dev checkout, site-packages for a wheel)."""
    env = os.environ.copy()
    package_parent = str(Path(fastconv.__file__).resolve().parent.parent)
    rest = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != package_parent]
    env["PYTHONPATH"] = os.pathsep.join([package_parent] + rest)
    env.setdefault("PYTHONHASHSEED", "0")
    env["PYTHONUNBUFFERED"] = "1"   # on a timeout, what was printed so far is complete
    env.pop("PYTHONSTARTUP", None)
    return env


def _tail(text, lines=25):
    return "\n".join(text.strip().splitlines()[-lines:])


def test_examples_found():
    assert EXAMPLES, f"no examples in {ROOT / 'examples'}"


@pytest.mark.parametrize("path, args, requires", _cases())
def test_example(path, args, requires):
    if isinstance(requires, Exception):
        pytest.fail(f"cannot read the conventions of {path.name}: {requires}")
    missing = [m for m in requires if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"{path.name} needs {', '.join(missing)}")
    cmd = [sys.executable, str(path), *args]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=_subprocess_env(), capture_output=True,
                              text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        pytest.fail(f"{' '.join(cmd[1:])} did not finish in {TIMEOUT} s; its output so "
                    f"far:\n{_tail(out)}")
    elapsed = time.perf_counter() - start
    report = (f"{' '.join(cmd[1:])} -> exit {proc.returncode} after {elapsed:.1f} s\n"
              f"--- stdout (tail) ---\n{_tail(proc.stdout)}\n"
              f"--- stderr (tail) ---\n{_tail(proc.stderr)}")
    assert proc.returncode == 0, report
    lines = [line.strip() for line in proc.stdout.splitlines() if line.strip()]
    assert lines, report
    last = lines[-1]
    assert last.lower().startswith("check:") and "OK" in last and "FAIL" not in last.upper(), \
        f"the last line printed is not a passing 'check: ... OK' line\n{report}"
    print(f"{' '.join(cmd[1:])}: {elapsed:.1f} s; {last}")
