"""Only for cffi: everything else is in pyproject.toml.  Builds the C runtime's
Python extension (runtime/build_ffi.py) at install time."""

from setuptools import setup

setup(cffi_modules=["runtime/build_ffi.py:ffibuilder"])
