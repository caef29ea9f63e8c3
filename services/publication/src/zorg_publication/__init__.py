"""Zorginkoop publication service.

The public list of contracted providers, as a feed for the website and as a page.
"""
