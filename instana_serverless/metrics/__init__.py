"""Metrics plugins sent with each bundle (DESIGN §6)."""
