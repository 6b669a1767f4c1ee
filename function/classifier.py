"""The only importer of the compiled classifier (`function._classifier`).

Wraps the C interface: builds the rules once from the settings, classifies a
whole payload in one native call, and turns a return code into NativeError
carrying the library's own message.  Everything above sees only model.Level,
whose values are checked here against the library's own constants.
"""

from typing import Iterable, Sequence

from ._classifier import ffi, lib
from .errors import NativeError
from .model import Level

if (lib.CAL_NORMAL, lib.CAL_MODERATE, lib.CAL_CRITICAL) != tuple(Level):
    raise ImportError("function/_classifier does not match model.Level: rebuild it (make native)")

_LEVELS = {level.value: level for level in Level}


def _check(code: int) -> None:
    if code != lib.CAL_OK:
        raise NativeError(ffi.string(lib.cal_strerror(code)).decode())


def _cstr(text: str | None):
    # Absent text, or text with a NUL that C would cut short, is NULL: unclassified.
    if text is None or "\0" in text:
        return ffi.NULL
    return ffi.new("char[]", text.encode("utf-8", "replace"))


class Classifier:
    """Alert-name mapping and CPU thresholds, held by the native library."""

    def __init__(self, *, moderate: float, critical: float, by_name: Iterable[tuple[str, str]]):
        out = ffi.new("cal_rules **")
        _check(lib.cal_rules_new(moderate, critical, out))
        self._rules = ffi.gc(out[0], lib.cal_rules_free)
        for name, level in by_name:
            _check(lib.cal_rules_map_name(self._rules, name.encode(), Level[level.upper()]))

    def classify(self, pairs: Sequence[tuple[str | None, str | None]]) -> list[Level | None]:
        """Levels for (alert name, CPU annotation) pairs; None where neither classifies."""
        n = len(pairs)
        keep = [(_cstr(name), _cstr(cpu)) for name, cpu in pairs]  # alive for the call
        names = ffi.new("const char *[]", [k[0] for k in keep]) if n else ffi.NULL
        cpus = ffi.new("const char *[]", [k[1] for k in keep]) if n else ffi.NULL
        levels = ffi.new("int8_t[]", n) if n else ffi.NULL
        _check(lib.cal_classify(self._rules, n, names, cpus, levels))
        return [_LEVELS.get(levels[i]) for i in range(n)]
