"""Metrics plugins sent with each bundle (docs/CONTRACT.md §6)."""
