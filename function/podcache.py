"""What this process last wrote on each pod, so the next change can skip the read.

A pod's next notification usually finds it as this process left it.  Deciding on
the metadata our last PATCH returned, and sending the next PATCH conditional on
that resourceVersion, saves the GET: if the pod moved on in the meantime the API
answers 409 and the caller drops the entry and reads it afresh.  So the cache can
be stale but never wrong for a write.  A decision to write nothing needs a read,
since someone may have changed the label by hand (Alertmanager's repeat_interval
re-send writes it back), except on entries `vouch`ed for: the pods a request wrote
before it answered 503, so that Alertmanager's re-send of that notification spends
its deadline on the pods still to change, not on reading what it just wrote.
Entries keep only what deciding needs (our label, our annotations, uid,
resourceVersion), and the cache is bounded, oldest out first.
"""

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from .model import PodKey, PodMeta


class PodCache:
    """A bounded, thread-safe map from (namespace, pod) to trimmed PodMeta."""

    def __init__(self, *, size: int, label: str, prefix: str, clock: Callable[[], float] = time.monotonic):
        self._size, self._label, self._prefix, self._clock = size, label, prefix + "/", clock
        self._items: OrderedDict[PodKey, tuple[PodMeta, float]] = OrderedDict()  # meta, vouched until
        self._lock = threading.Lock()

    def get(self, key: PodKey) -> tuple[PodMeta, bool] | None:
        """The entry, and whether it is vouched for (a decision to write nothing on it needs
        no read), or None."""
        with self._lock:
            found = self._items.get(key)
        return None if found is None else (found[0], self._clock() < found[1])

    def vouch(self, keys: Iterable[PodKey], seconds: float) -> None:
        """Trust these entries to need no read before writing nothing, for `seconds`."""
        until = self._clock() + seconds
        with self._lock:
            for key in keys:
                if key in self._items:
                    self._items[key] = (self._items[key][0], until)

    def drop(self, key: PodKey) -> None:
        """Forget the entry: the pod moved on (409), read it afresh."""
        with self._lock:
            self._items.pop(key, None)

    def put(self, key: PodKey, meta: PodMeta) -> None:
        trimmed = PodMeta(
            meta.uid,
            meta.resource_version,
            {k: v for k, v in meta.labels.items() if k == self._label},
            {k: v for k, v in meta.annotations.items() if k.startswith(self._prefix)},
        )
        with self._lock:
            self._items[key] = (trimmed, 0.0)
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
