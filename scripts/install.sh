#!/usr/bin/env bash
# The image's install step (also run by tests/system/test_image.py): scripts/install.sh PREFIX
#
#   PREFIX/venv  a virtualenv holding exactly the pinned requirements.txt: what the pod
#                imports, installed with --no-deps (the file is the whole closure), and no
#                installer (pip and setuptools are removed at the end; see docs/image.md)
#   PREFIX/app   the `function` package with its compiled _classifier*.so, on PYTHONPATH
#
# The sources are copied to a scratch directory and the native module is compiled
# there by native/build_classifier.py with the venv's own cffi, so the .so matches
# the venv's Python and this machine's libc; a _classifier*.so left in the
# developer's tree never reaches PREFIX.  (The image keeps the app out of site-packages,
# on PYTHONPATH, rather than `pip install .`: the package's name, `function`, is too
# generic for a shared site-packages.)
# PYTHON picks the interpreter the venv is made from (default python3).
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 PREFIX" >&2; exit 2; }
src=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$1"
prefix=$(cd "$1" && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

"${PYTHON:-python3}" -m venv "$prefix/venv"
py="$prefix/venv/bin/python"
pip=("$py" -m pip --disable-pip-version-check --no-input --quiet)
"${pip[@]}" install --no-deps --requirement "$src/requirements.txt"
# What compiling the classifier needs on top (cffi's C parser): beside the venv, not in it.
"${pip[@]}" install --no-deps --no-compile --target "$stage/build-deps" --requirement "$src/requirements-build.txt"

mkdir -p "$stage/native"
# The Python sources of the package and its subpackages (function/kube/), nothing built.
tar -C "$src" --exclude='*.so' --exclude=__pycache__ -cf - function | tar -C "$stage" -xf -
cp "$src"/native/classifier.{h,cpp,cdef} "$src/native/build_classifier.py" "$stage/native/"
PYTHONPATH="$stage/build-deps" "$py" "$stage/native/build_classifier.py"

rm -rf "$prefix/app"
mkdir -p "$prefix/app"
cp -R "$stage/function" "$prefix/app/"
# Bytecode now, so that a read-only root filesystem costs nothing at start-up.
"$py" -m compileall -q "$prefix/app"
# The installer itself is a build tool: nothing the pod runs imports pip or setuptools.
"${pip[@]}" uninstall --yes pip setuptools
# Fail here, not on the first request, if the module or a runtime dependency does not load
# (the server, and through the labeler the classifier, metrics and API client).  From $prefix, so
# that a `function/` in the current directory (the image's WORKDIR /src holds the
# sources, without the .so) cannot shadow the installed one.
(cd "$prefix" && PYTHONPATH="$prefix/app" PYTHONDONTWRITEBYTECODE=1 "$py" -c 'import function.server, function.labeler')
echo "installed cpu-alert-labeler in $prefix"
