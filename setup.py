"""The package list, found rather than listed: every package under backend/ (motionfield and
its subpackages) and assets/ installed as motionfield.assets. pyproject.toml's `find` cannot
rename a folder, hence this file; everything else is in pyproject.toml."""

from setuptools import find_namespace_packages, setup

SKIP = ["*__pycache__*", "*.egg-info*"]
backend = find_namespace_packages("backend", include=["motionfield*"], exclude=SKIP)
assets = find_namespace_packages("assets", exclude=SKIP)
setup(packages=backend + ["motionfield.assets"] + [f"motionfield.assets.{p}" for p in assets])
