"""Many models x target tables: the plan (jobs and cache keys without loading a model) and the workers
that build them (``--jobs N``, ``--job ID``)."""
