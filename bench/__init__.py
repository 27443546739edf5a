"""On-demand performance benchmark (issue #8): `python -m bench.run`. Not part of the test suite."""
