"""report.json and what reads it: the report type, the measures gates read, the gates, the summary over a
tree of reports and the terminal rendering. Importable without TensorFlow (``hwquant check`` runs in CI
jobs that lack it)."""
