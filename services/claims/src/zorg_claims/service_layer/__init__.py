"""The claims use cases: handlers that run in a unit of work."""
