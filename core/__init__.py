"""Copier's domain and engine: signals, instruments, sizing, routing, connectors, mirror log.

Nothing in ``core`` imports another Copier package; everything else builds on it.
"""
