"""asv benchmarks of fastconv (run from the ``benchmarks/`` directory)."""
