"""The publication adapters: tables, repositories and outside systems."""
