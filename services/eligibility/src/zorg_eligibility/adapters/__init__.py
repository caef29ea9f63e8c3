"""The eligibility adapters: tables, repositories and outside systems."""
