"""cffi builder for the native classifier (out-of-line API mode).

`setup.py` names `ffibuilder` here as `cffi_modules`; run directly, this compiles
`function/_classifier*.so` in place for development, tests and the image.
"""

import os
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent


def builder(base: Path) -> FFI:
    """The FFI builder with sources under `base` (relative for setuptools, absolute here)."""
    ffi = FFI()
    ffi.cdef((HERE / "classifier.cdef").read_text())
    ffi.set_source(
        "function._classifier",
        '#include "classifier.h"',
        sources=[str(base / "classifier.cpp")],
        include_dirs=[str(base)],
        source_extension=".cpp",
        extra_compile_args=["-std=c++17", "-O2", "-Wall", "-Wextra", "-fvisibility=hidden"],
    )
    return ffi


# setuptools refuses absolute source paths in a wheel build; it builds from the project root.
ffibuilder = builder(Path(os.path.relpath(HERE)))

if __name__ == "__main__":
    import tempfile

    # Built beside its destination: a rename across filesystems (a tmpfs /tmp) would fail.
    with tempfile.TemporaryDirectory(dir=HERE.parent / "function") as tmp:
        # compile() works inside tmp, so the sources must be named absolutely.
        built = builder(HERE).compile(tmpdir=tmp, verbose=False)
        target = HERE.parent / "function" / Path(built).name
        Path(built).replace(target)
        print(f"built {target.relative_to(HERE.parent)}")
