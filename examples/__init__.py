"""Runnable examples of bsg_async (imported by the tests)."""
