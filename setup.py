"""Only here for cffi: `cffi_modules` cannot be declared in pyproject.toml yet."""

from setuptools import setup

setup(cffi_modules=["native/build_classifier.py:ffibuilder"])
