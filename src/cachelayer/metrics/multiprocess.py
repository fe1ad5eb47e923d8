"""Multi-process mode: each worker publishes its figures, any process serves the sum.

Under gunicorn or ``uvicorn --workers N`` every worker has its own caches, so
one worker's ``/metrics`` would show only its share.  Each worker calls
:func:`publish` (after the fork: gunicorn's ``post_fork``, or at app start):
a daemon thread writes the worker's registry every *interval* seconds, in the
text format, to ``<directory>/cachelayer-<pid>.prom`` (atomic rename; also
at exit).  :class:`MultiProcessCollector` reads every file at scrape time:

- counters and histograms are summed over all files, including those of
  exited workers, so totals never go backwards;
- gauges keep one series per worker, with a ``pid`` label, for live workers
  only.

Figures are at most *interval* seconds old.  Clear the directory when the
whole service restarts (as with prometheus_client's own multi-process mode).
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Optional, Union

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

__all__ = ["MultiProcessCollector", "Publisher", "publish"]

_PREFIX = "cachelayer-"
_SUFFIX = ".prom"


class Publisher:
    """Writes one process's registry to its file every *interval* seconds."""

    def __init__(
        self,
        directory: Union[str, os.PathLike[str]],
        registry: Optional[CollectorRegistry] = None,
        interval: float = 5.0,
    ) -> None:
        self.directory = Path(directory)
        self.registry = registry if registry is not None else REGISTRY
        self.interval = interval
        self.pid = os.getpid()
        self.path = self.directory / f"{_PREFIX}{self.pid}{_SUFFIX}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cachelayer-metrics", daemon=True)

    def write(self) -> None:
        """Write the registry now (atomically)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(generate_latest(self.registry))
        os.replace(tmp, self.path)

    def start(self) -> Publisher:
        """Write once, then every *interval* seconds from a daemon thread."""
        self.write()
        self._thread.start()
        atexit.register(self.stop)
        return self

    def stop(self) -> None:
        """Stop the thread after a last write."""
        if os.getpid() != self.pid or self._stop.is_set():
            return
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self.interval + 1.0)
        self.write()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if os.getpid() != self.pid:
                return
            self.write()


def publish(
    directory: Union[str, os.PathLike[str]],
    registry: Optional[CollectorRegistry] = None,
    interval: float = 5.0,
) -> Publisher:
    """Start publishing this process's registry into *directory* (call once per worker)."""
    return Publisher(directory, registry, interval).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class MultiProcessCollector(Collector):
    """Sums the files of every worker that published into *directory*."""

    def __init__(self, directory: Union[str, os.PathLike[str]]) -> None:
        self.directory = Path(directory)

    def collect(self) -> Iterator[Metric]:
        """Read every worker's file now and yield the merged families."""
        merged: dict[str, Metric] = {}
        sums: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
        for path in sorted(self.directory.glob(f"{_PREFIX}*{_SUFFIX}")):
            try:
                pid = int(path.name[len(_PREFIX) : -len(_SUFFIX)])
                text = path.read_text()
            except (ValueError, OSError):
                continue  # a stray file, or one replaced while reading
            alive = _alive(pid)
            for family in text_string_to_metric_families(text):
                if family.type == "gauge" and not alive:
                    continue
                target = merged.get(family.name)
                if target is None:
                    target = Metric(family.name, family.documentation, family.type)
                    merged[family.name] = target
                    sums[family.name] = {}
                acc = sums[family.name]
                for sample in family.samples:
                    labels = dict(sample.labels)
                    if family.type == "gauge":
                        labels["pid"] = str(pid)
                    key = (sample.name, tuple(sorted(labels.items())))
                    acc[key] = acc.get(key, 0.0) + sample.value
        for name, target in merged.items():
            for (sample_name, pairs), value in sums[name].items():
                target.samples.append(Sample(sample_name, dict(pairs), value))
            yield target
