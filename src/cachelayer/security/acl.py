"""The least-privilege Redis ACL rule a cache needs.

A cache touches only keys under ``<namespace>:`` (its values, and its
internal keys under ``<namespace>:__cl__:``: tag versions, loader locks,
dictionary announcements), subscribes only to ``__redis__:invalidate``
(the channel of ``CLIENT TRACKING ... REDIRECT``, both coherence modes) and
publishes nothing.  The commands it sends are listed below, grouped by what
needs them; :func:`acl_rule` turns them into one ``ACL SETUSER`` rule.

The rule starts with ``resetkeys resetchannels -@all`` so that applying it to
an existing user removes every other right.  ``--read-only`` grants read
access to the keys (``%R~``) and no write command: writes are refused by
Redis with ``NOPERM`` (a non-strict cache counts them in
``stats().refused``; a strict one raises :class:`~cachelayer.errors.PermissionDenied`
naming the command).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import ConfigError

__all__ = [
    "CLUSTER_COMMANDS",
    "COHERENCE_CHANNEL",
    "CONNECTION_COMMANDS",
    "READ_COMMANDS",
    "SENTINEL_DATA_COMMANDS",
    "WRITE_COMMANDS",
    "acl_rule",
    "acl_setuser_args",
]

#: Channel of ``CLIENT TRACKING ... REDIRECT`` invalidation messages.
COHERENCE_CHANNEL = "__redis__:invalidate"

#: Sent on every connection or by health checks and ``stats()``.
CONNECTION_COMMANDS: tuple[str, ...] = (
    "ping",
    "select",
    "info",
    "client|setname",
    "client|id",
    "client|tracking",
    "client|trackinginfo",
    "subscribe",
    "unsubscribe",
)
#: Reads: ``get``/``get_many``/``exists``/``ttl``, tag versions, session loads.
READ_COMMANDS: tuple[str, ...] = ("get", "mget", "exists", "pttl", "hgetall")
#: Writes: ``set``/``set_many``/``delete``/``incr``/``expire``/``touch``/``clear``,
#: loader locks (``SET NX`` + a compare-and-delete script), durable writes.
WRITE_COMMANDS: tuple[str, ...] = (
    "set",
    "unlink",
    "del",
    "incr",
    "incrby",
    "pexpire",
    "persist",
    "eval",
    "scan",
    "wait",
)
#: Data nodes of a sentinel topology: each new connection checks it is the master.
SENTINEL_DATA_COMMANDS: tuple[str, ...] = ("role",)
#: Cluster nodes: the slot map and redirections.
CLUSTER_COMMANDS: tuple[str, ...] = ("cluster|slots", "asking", "readonly")

_TOPOLOGIES = ("standalone", "sentinel", "cluster", "any")


def _commands(read_only: bool, topology: str) -> list[str]:
    if topology not in _TOPOLOGIES:
        raise ConfigError(f"topology must be one of {', '.join(_TOPOLOGIES)}; got {topology!r}")
    commands = list(CONNECTION_COMMANDS) + list(READ_COMMANDS)
    if read_only:
        commands.append("scan")  # stats and tooling list keys; a read
    else:
        commands += WRITE_COMMANDS
    if topology in ("sentinel", "any"):
        commands += SENTINEL_DATA_COMMANDS
    if topology in ("cluster", "any"):
        commands += CLUSTER_COMMANDS
    return commands


def _check_namespace(namespace: str) -> None:
    if not (
        isinstance(namespace, str)
        and 0 < len(namespace) <= 128
        and not any(c in namespace for c in "*?[]{}\\ \n\r\t")
    ):
        raise ConfigError(
            "namespace must be 1 to 128 characters without spaces, braces, backslashes "
            f"or glob characters; got {namespace!r}"
        )


def acl_setuser_args(
    namespace: str, *, read_only: bool = False, topology: str = "any"
) -> list[str]:
    """The rules of ``ACL SETUSER <user> <rules...>`` for a cache on *namespace*.

    Credentials (``on``, ``>password``) are not included: add them yourself.
    *topology* (``standalone``, ``sentinel``, ``cluster`` or ``any``) adds the
    commands only that topology sends.
    """
    _check_namespace(namespace)
    keys = f"%R~{namespace}:*" if read_only else f"~{namespace}:*"
    rules = ["resetkeys", "resetchannels", "-@all", keys, f"&{COHERENCE_CHANNEL}"]
    rules += [f"+{command}" for command in _commands(read_only, topology)]
    return rules


def acl_rule(
    namespace: str,
    *,
    read_only: bool = False,
    topology: str = "any",
    user: str = "cachelayer",
    extra: Sequence[str] = (),
) -> str:
    """One ``ACL SETUSER`` line (without a password) for a cache on *namespace*.

    Set the password with ``ACL SETUSER <user> on >...`` separately, or append
    it to the printed line; the password is never part of this output.
    """
    if not user or any(c.isspace() for c in user):
        raise ConfigError(f"ACL user name must be non-empty without spaces; got {user!r}")
    rules = acl_setuser_args(namespace, read_only=read_only, topology=topology)
    return " ".join(["ACL", "SETUSER", user, *rules, *extra])
