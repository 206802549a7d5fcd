"""Typed configs (models.py), the points syntax (points.py) and strict YAML (yaml12.py).

Kept empty: `backprop --help` imports config.defaults, which must not pull in pydantic.
"""
