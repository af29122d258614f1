"""Built-in hwquant backends, installed as the package ``hwquant_backends``.

Each sub-package registers its Backend class through the ``hwquant.backends`` entry-point
group, exactly as a third-party backend would.
"""
