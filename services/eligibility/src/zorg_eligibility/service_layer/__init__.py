"""The eligibility use cases: handlers that run in a unit of work."""
