"""Analyses: each experiment's metrics computed from a run store's recorded arrays."""
