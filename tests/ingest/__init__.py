"""Tests of the ingest adapters."""
