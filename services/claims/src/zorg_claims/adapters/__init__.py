"""The claims adapters: tables, repositories and outside systems."""
