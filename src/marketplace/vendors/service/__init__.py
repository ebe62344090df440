"""Vendor use cases, one module per aggregate."""
