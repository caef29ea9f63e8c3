"""Shared mechanics of the Zorginkoop services; nothing domain-specific lives here."""
