"""Connector tests: the shared contract suite and each venue's own tests."""
