# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: binding=False, embedsignature=False, initializedcheck=False
"""C implementation of cachelayer's kernels (the only binding to csrc/).

Each component here has a pure-Python twin in ``cachelayer._core_py`` with
identical behaviour; ``cachelayer._impl`` picks one of the two.
"""

include "_local.pxi"
include "_resp.pxi"
include "_latency.pxi"
include "_front.pxi"
include "_sizeof.pxi"
include "_mp_decode.pxi"
include "_sign.pxi"
include "_mp_encode.pxi"
include "_codec.pxi"
include "_listen.pxi"
include "_wt.pxi"
include "_backup.pxi"
