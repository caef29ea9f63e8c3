"""Zorginkoop contracting service.

Follow-format e-mails, offer negotiations, digital contracting and the contract lifecycle.
"""
