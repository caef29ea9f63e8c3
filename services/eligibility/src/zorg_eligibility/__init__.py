"""Zorginkoop eligibility service.

Provider register, procurement policies as data, explainable eligibility decisions.
"""
