"""Edge adapters: authenticate an input, parse it into a ``core.signal.Signal``, hand it to the router."""
