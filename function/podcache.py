"""What this process last wrote on each pod, so the next change can skip the read.

A pod's next notification usually finds it as this process left it.  Deciding on
the metadata our last PATCH returned, and sending the next PATCH conditional on
that resourceVersion, saves the GET: if the pod moved on in the meantime the API
answers 409 and the caller reads it afresh.  So the cache can be stale but never
wrong.  Entries keep only what deciding needs (our label, our annotations, uid,
resourceVersion), and the cache is bounded, oldest out first.
"""

import threading
from collections import OrderedDict

from .model import PodKey, PodMeta


class PodCache:
    """A bounded, thread-safe map from (namespace, pod) to trimmed PodMeta."""

    def __init__(self, *, size: int, label: str, prefix: str):
        self._size, self._label, self._prefix = size, label, prefix + "/"
        self._items: OrderedDict[PodKey, PodMeta] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: PodKey) -> PodMeta | None:
        """Remove and return the entry: it is good for one attempt only."""
        with self._lock:
            return self._items.pop(key, None)

    def put(self, key: PodKey, meta: PodMeta) -> None:
        trimmed = PodMeta(
            meta.uid,
            meta.resource_version,
            {k: v for k, v in meta.labels.items() if k == self._label},
            {k: v for k, v in meta.annotations.items() if k.startswith(self._prefix)},
        )
        with self._lock:
            self._items[key] = trimmed
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
