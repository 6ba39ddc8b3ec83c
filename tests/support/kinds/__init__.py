"""A job kind defined only here, as a team outside genq would define its own:
loaded through GENQ_KIND_MODULES (tests/e2e/test_kind_modules.py)."""
