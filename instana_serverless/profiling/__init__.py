"""AutoProfile: a wall-clock stack sampler, inferred spans and AutoProfile call trees.

Imported only when ``INSTANA_AUTO_PROFILE`` is on (``Client`` creates a ``Profiler``); with it
off, nothing here is imported and no thread is started. See docs/PROFILING.md.
"""
