"""edgetpu backend (being written)."""
