"""Copier's domain and engine: signals, instruments, sizing, routing, connectors, mirror log.

Nothing in ``core`` imports another Copier package; everything else builds on it.
"""

from core.compiled import package_path

__path__ = package_path(__path__, __name__)  # compiled modules first, when built (core/compiled.py)
