"""The contracting adapters: tables, repositories and outside systems."""
