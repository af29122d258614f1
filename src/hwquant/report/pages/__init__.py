"""The pages a report renders to: report.html per target, the dashboard over a tree, Model Explorer
overlays, and the inline SVG charts they draw with (no network, no script needed)."""
