"""Shared test configuration for fastconv.

* A fixed hypothesis profile: derandomized (the same examples on every run and
  every machine, so CI is reproducible), no deadline (the first call of a
  geometry may build caches), and ``print_blob`` so that a failure prints the
  ``@reproduce_failure`` line.  ``HYPOTHESIS_PROFILE=dev`` gives random search.
* ``tests/`` is put on ``sys.path`` so the test modules can ``import reference``.
"""

import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    max_examples=50,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
)
settings.register_profile(
    "dev",
    derandomize=False,
    deadline=None,
    print_blob=True,
    max_examples=200,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def rng():
    """A fresh, fixed-seed generator per test."""
    return np.random.default_rng(20240531)


@pytest.fixture
def implicit_everywhere(monkeypatch):
    """The planner takes the implicit GEMM wherever the geometry allows, also on
    CPUs where only its portable C tile exists (it avoids it there)."""
    from fastconv import _engine

    monkeypatch.setattr(_engine, "IMPLICIT_KERNELS", True)
    monkeypatch.setattr(_engine, "IMPLICIT_DW_KERNELS", True)
    _engine.make_plan.cache_clear()
    yield
    _engine.make_plan.cache_clear()
