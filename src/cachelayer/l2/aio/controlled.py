"""What both asyncio tiers take from their sync control tier."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable

__all__ = ["Controlled"]


class Controlled(ABC):
    """Description, topology hook and listener sources delegated to ``self.control``.

    The sync control tier's watcher thread reports failovers; the asyncio
    tier then drops its connections (thread-safely, :meth:`_drop_from_thread`)
    before the cache hears of it.
    """

    control: Any

    @abstractmethod
    def _drop_from_thread(self) -> None:
        """Close the data connections from any thread (they reconnect on next use)."""

    @property
    def description(self) -> str:
        """Human-readable address(es), from the control tier."""
        return str(self.control.description)

    @property
    def on_topology_change(self) -> Any:
        """Told about failovers and slot moves (set by the cache; called from a thread)."""
        return self.control.on_topology_change

    @on_topology_change.setter
    def on_topology_change(self, hook: Any) -> None:
        def changed(reason: str) -> None:
            self._drop_from_thread()
            if hook is not None:
                hook(reason)

        self.control.on_topology_change = changed

    def coherence_sources(self) -> list[Callable[[], Any]]:
        """The listeners' connect functions (sync, run on the listener threads)."""
        return list(self.control.coherence_sources())

    def tracking_broken(self) -> bool:
        """Never reported here: asyncio connections re-handshake after every flush."""
        return False
