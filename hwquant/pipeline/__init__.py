"""The build pipeline: load, data, plan, convert, check, verify, package, report, plus cache,
manifest and gates. Needs the ``build`` extra; only ``convert`` imports TensorFlow.
"""
