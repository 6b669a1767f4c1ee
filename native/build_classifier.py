"""cffi builder for the native classifier (out-of-line API mode).

`setup.py` names this module as `cffi_modules`; run directly, it compiles
`function/_classifier*.so` in place for development and tests.
"""

from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent

ffibuilder = FFI()
ffibuilder.cdef((HERE / "classifier.cdef").read_text())
ffibuilder.set_source(
    "function._classifier",
    '#include "classifier.h"',
    sources=[str(HERE / "classifier.cpp")],
    include_dirs=[str(HERE)],
    source_extension=".cpp",
    extra_compile_args=["-std=c++17", "-O2", "-Wall", "-Wextra", "-fvisibility=hidden"],
)

if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        built = ffibuilder.compile(tmpdir=tmp, verbose=False)
        target = HERE.parent / "function" / Path(built).name
        Path(built).replace(target)
        print(f"built {target.relative_to(HERE.parent)}")
