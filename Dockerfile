# The function's image: one build stage with the C++ toolchain, one slim runtime stage.
# Both stages use the same scripts the tests run (scripts/install.sh, scripts/start.sh).
#   docker build -t ghcr.io/example/cpu-alert-labeler:0.1.0 .
# PYTHON_IMAGE picks the base of both stages: the official slim image by default; the
# node tests pass a local Debian 12 base (no registry there), see testbed/clusters/node/images.py.
# Sizes, layer by layer, and why each package ships: docs/image.md.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# g++ compiles the classifier.  The official image's Python carries its headers and venv;
# Debian's (the local base) needs "g++ python3-dev python3-venv", in this stage only.
ARG BUILD_PACKAGES=g++
RUN apt-get update \
 && apt-get install -y --no-install-recommends ${BUILD_PACKAGES} \
 && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY requirements.txt requirements-build.txt ./
COPY native/ native/
COPY function/ function/
COPY scripts/install.sh scripts/start.sh scripts/
RUN scripts/install.sh /opt/cpu-alert-labeler \
 && install -m 0755 scripts/start.sh /opt/cpu-alert-labeler/start.sh

# Same base image, so the venv's interpreter path and libstdc++ match the build stage.
# Everything stays root-owned: the non-root user can read the app, never change it.
FROM ${PYTHON_IMAGE}
COPY --from=build /opt/cpu-alert-labeler /opt/cpu-alert-labeler
ENV APP_PREFIX=/opt/cpu-alert-labeler PORT=8080
# Numeric, so Kubernetes can check runAsNonRoot without reading /etc/passwd.
USER 10001:10001
EXPOSE 8080
CMD ["/opt/cpu-alert-labeler/start.sh"]
