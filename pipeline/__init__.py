"""Pipeline definition, configuration and runners of the FMA genre-classification TFX pipeline."""

# TF_USE_LEGACY_KERAS is set in one place, components/__init__.py, before TensorFlow is first imported; every
# entry point of the project (this package, the components' executors in their containers, pytest's
# conftest.py, the benchmarks) passes through it.
import components  # noqa: F401
