"""The Redis tier (L2): connections and the batch path.

:mod:`cachelayer.l2.batch` sends whole batches encoded in C (see
``cachelayer._core.encode_*``) over redis-py connections and reads the replies
with hiredis.
"""

from __future__ import annotations

__all__: list[str] = []
