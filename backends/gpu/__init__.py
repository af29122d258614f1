"""gpu backend (being written)."""
