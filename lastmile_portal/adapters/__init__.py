"""Implementations of the domain's ports; the only modules that import outside SDKs."""
