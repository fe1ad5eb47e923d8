"""Security features of the cache: least-privilege ACL rules and secret handling.

- :mod:`cachelayer.security.acl`: the ACL rule a cache needs (``cachelayer acl``).
- :mod:`cachelayer.security.secrets`: checks that no secret leaks into text.
"""

from __future__ import annotations

from .acl import READ_COMMANDS, WRITE_COMMANDS, acl_rule, acl_setuser_args

__all__ = ["READ_COMMANDS", "WRITE_COMMANDS", "acl_rule", "acl_setuser_args"]
