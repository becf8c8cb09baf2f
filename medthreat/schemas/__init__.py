"""JSON Schemas of the documents medthreat writes (loaded with :mod:`importlib.resources`)."""
