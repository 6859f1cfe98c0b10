"""The documentation is complete and its examples run.

* Every public module's doctests pass, run with the standard ``doctest``
  module on the *imported* modules: this works in a development checkout and
  on an installed (non-editable) package alike.
* Every public callable has a numpydoc docstring with a one-line summary and
  "Parameters" (unless it takes none), "Returns" (a generator: "Yields"; a
  class: "Attributes") and "Examples" sections, and its Parameters section
  names every parameter of its signature (``*args``/``**kwargs`` aside).
"""

import doctest
import importlib
import inspect
import re

import numpy as np
import pytest

import fastconv
from fastconv import _threads

PUBLIC_MODULES = [
    "fastconv", "fastconv.conv", "fastconv.pool", "fastconv.local", "fastconv.linalg",
    "fastconv.signal", "fastconv.ndimage", "fastconv._threads", "fastconv._config",
]

FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS


# NumPy's default print options: the expected outputs are written for them.
DEFAULT_PRINT = dict(precision=8, threshold=1000, edgeitems=3, linewidth=75, suppress=False,
                     nanstr="nan", infstr="inf", sign="-", floatmode="maxprec", legacy=False)


@pytest.fixture
def restore_state():
    """Doctests run with NumPy's default print options; the thread default they
    may change, and the print options, are put back afterwards."""
    saved_threads = _threads._global_threads
    saved_print = np.get_printoptions()
    np.set_printoptions(formatter=None, **DEFAULT_PRINT)
    try:
        yield
    finally:
        _threads._global_threads = saved_threads
        np.set_printoptions(**saved_print)


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_doctests(name, restore_state):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=FLAGS, report=True, verbose=False)
    assert result.attempted > 0, f"{name} has no doctests"
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctests of {name} failed"


# -- numpydoc structure --------------------------------------------------------

def _public_callables():
    seen = {}
    for module in (fastconv, fastconv.signal, fastconv.ndimage):
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.ismodule(obj) or not callable(obj):
                continue
            seen[f"{module.__name__}.{name}"] = obj
    return sorted(seen.items())


PUBLIC_CALLABLES = _public_callables()


def _sections(doc):
    """{section title: body text} of a (cleaned) numpydoc docstring."""
    lines = doc.splitlines()
    starts = [i for i in range(len(lines) - 1)
              if lines[i].strip() and set(lines[i + 1].strip()) == {"-"}
              and len(lines[i + 1].strip()) >= 3 and not lines[i].startswith(" ")]
    sections = {}
    for k, i in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(lines)
        sections[lines[i].strip()] = "\n".join(lines[i + 2:end])
    return sections


def _documented_names(body):
    """Parameter names of a Parameters section: its unindented lines, before any
    " : ", split at commas (``a, b : int`` documents a and b)."""
    names = set()
    for line in body.splitlines():
        if not line.strip() or line[0].isspace():
            continue
        for name in line.split(" : ")[0].split(","):
            names.add(name.strip().lstrip("*"))
    return names


def _signature_params(obj):
    target = obj.__init__ if inspect.isclass(obj) else obj
    params = list(inspect.signature(target).parameters.values())
    if inspect.isclass(obj):
        params = params[1:]  # self
    return [p.name for p in params
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def test_the_public_api_is_listed():
    names = dict(PUBLIC_CALLABLES)
    assert len(names) >= 30
    assert "fastconv.ConvOperator" in names and "fastconv.threads" in names
    assert "fastconv.signal.correlate2d" in names and "fastconv.ndimage.convolve" in names


@pytest.mark.parametrize("name, obj", PUBLIC_CALLABLES, ids=[n for n, _ in PUBLIC_CALLABLES])
def test_numpydoc_sections(name, obj):
    doc = inspect.getdoc(obj)
    assert doc, f"{name} has no docstring"
    summary = doc.splitlines()[0]
    assert summary.strip() and not summary.startswith(" "), f"{name}: no one-line summary"
    sections = _sections(doc)
    params = _signature_params(obj)
    if params:
        assert "Parameters" in sections, f"{name}: no Parameters section"
    if inspect.isclass(obj):
        returns = "Attributes"
    elif inspect.isgeneratorfunction(inspect.unwrap(obj)):
        returns = "Yields"
    else:
        returns = "Returns"
    assert returns in sections, f"{name}: no {returns} section"
    assert ">>>" in sections.get("Examples", ""), f"{name}: no Examples with a >>> line"
    documented = _documented_names(sections.get("Parameters", ""))
    missing = [p for p in params if p not in documented]
    assert not missing, f"{name}: parameters {missing} are not in its Parameters section"


@pytest.mark.parametrize("name, obj", PUBLIC_CALLABLES, ids=[n for n, _ in PUBLIC_CALLABLES])
def test_no_unfilled_placeholders(name, obj):
    """Docstrings assembled from shared pieces have every piece filled in."""
    doc = inspect.getdoc(obj)
    assert not re.search(r"\{(params|ceil|layout|workers|common|returns|op|name)\}", doc), name
