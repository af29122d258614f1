"""report.json and what reads it: the report type and its published schema (schema.py, typed.py,
report.schema.json, CHANGELOG.md), the one assembler (assemble.py), the measures gates read, the gate
table (gates.py), the summary over a tree of reports and the terminal rendering. Importable without
TensorFlow (``hwquant check`` runs in CI jobs that lack it)."""
