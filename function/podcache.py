"""What this process last wrote on each pod, so the next change can skip the read.

A pod's next notification usually finds it as this process left it.  Deciding on
the metadata our last PATCH returned, and sending the next PATCH conditional on
that resourceVersion, saves the GET: if the pod moved on in the meantime the API
answers 409 and the caller drops the entry and reads it afresh.  So the cache can
be stale but never wrong for a write.  A decision to write nothing is taken on an
entry without a read only while it is young (config.KNOWN_FOR): a re-send
of a notification this process already applied costs no API call, while a label
someone else changed since is seen again soon after.  Entries keep only what
deciding needs (our label, our annotations, uid, resourceVersion), and the cache is
bounded, oldest out first.
"""

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from .model import PodKey, PodMeta


class PodCache:
    """A bounded, thread-safe map from (namespace, pod) to trimmed PodMeta and its age."""

    def __init__(self, *, size: int, label: str, prefix: str, clock: Callable[[], float] = time.monotonic):
        self._size, self._label, self._prefix, self._clock = size, label, prefix + "/", clock
        self._items: OrderedDict[PodKey, tuple[PodMeta, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: PodKey) -> tuple[PodMeta, float] | None:
        """The entry and its age in seconds (since our write), or None."""
        with self._lock:
            found = self._items.get(key)
        return None if found is None else (found[0], self._clock() - found[1])

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
            self._items[key] = (trimmed, self._clock())
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
