"""Security features of the cache (docs/security.md).

- :mod:`cachelayer.security.acl`: the least-privilege ACL rule (``cachelayer acl``);
- :mod:`cachelayer.security.encryption`: AES-256-GCM at rest, key ids for rotation;
- :mod:`cachelayer.security.rekey`: re-encrypting under the current key (``cachelayer rekey``);
- :mod:`cachelayer.security.audit`: JSON audit records on the ``cachelayer.audit`` logger.
"""

from __future__ import annotations

from .acl import READ_COMMANDS, WRITE_COMMANDS, acl_rule, acl_setuser_args

__all__ = ["READ_COMMANDS", "WRITE_COMMANDS", "acl_rule", "acl_setuser_args"]
