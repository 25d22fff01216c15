"""Helpers for the tests (fixture data, MLMD stores, compiled specs, a headless browser); not shipped."""
