"""Test support: a throw-away PostgreSQL server and HTTP helpers."""
