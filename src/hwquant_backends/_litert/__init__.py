"""What the LiteRT-run targets share (cpu, and gpu for the ops that fall back to the CPU): not a
backend, a library for them.

- ``ops``: LiteRT's builtin CPU kernels per (op, compute dtype), proven by the runtime itself, and
  ``explain(op)``, the verdict the cpu target and the gpu target's CPU fallback both give.

The backends import these names and nothing of each other's (import-linter's independence
contract in pyproject.toml keeps it so).
"""
