"""The parts of tools/mutation_test.py, one job each (see that script and docs/testing.md)."""
