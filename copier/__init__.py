"""Copier's composition root: configuration, wiring, the command line and the daemon's lifecycle."""
