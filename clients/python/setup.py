"""Lets `pip install --no-use-pep517 -e .` (setup.py develop) work where `wheel` is absent."""

from setuptools import setup

setup()
