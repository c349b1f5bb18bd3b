"""Shared by the tests and the benchmarks (not used by the product): the egress guard that
keeps every socket on loopback, and a harness for real Celery worker processes."""
