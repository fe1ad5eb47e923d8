"""The ``cachelayer demo``: a Learning Assistant service behind the two-tier cache.

:mod:`.service` is a small SQLite-backed service with a deliberately slow
loader, :mod:`.workload` drives it with Zipf-distributed requests through a
:class:`~cachelayer.Cache`, and :mod:`.command` is the command line.
"""
