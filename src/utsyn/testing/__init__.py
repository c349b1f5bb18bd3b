"""Test support shipped with the package: the egress guard and the lab fixture."""
