"""Figures of networks and runs (matplotlib, no screen needed)."""
