"""The facts about a pod that the decisions work on, with no I/O attached.

Kept apart from kube/api.py (which builds them from the API's answers) so that the
pure side (plan, podcache) names a pod's metadata without importing the module
that talks to the API.
"""

from dataclasses import dataclass
from enum import Enum, IntEnum


class Level(IntEnum):
    """CPU levels, ordered by severity; the values are the native library's (classifier.h,
    checked when classifier.py loads it)."""

    NORMAL = 0
    MODERATE = 1
    CRITICAL = 2


PodKey = tuple[str, str]
"""(namespace, name) of one pod."""


@dataclass(frozen=True, slots=True)
class PodMeta:
    """The parts of a pod's metadata the function reads."""

    uid: str
    resource_version: str
    labels: dict
    annotations: dict


class OutcomeKind(str, Enum):
    """What happened to a pod (or why an alert changed nothing), as the answer names it."""

    LABELED = "labeled"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"
    FAILED = "failed"
