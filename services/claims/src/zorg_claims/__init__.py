"""Zorginkoop claims service.

Claim intake and adjudication against contracts and policies; holds released by contracts.
"""
