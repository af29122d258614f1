"""The content-addressed build cache: keys, entries, restores."""
