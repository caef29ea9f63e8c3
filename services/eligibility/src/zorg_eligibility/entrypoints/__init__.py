"""The eligibility entry points: HTTP routes, event consumers and CLI commands."""
