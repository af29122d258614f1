"""mcu backend (being written)."""
