"""Catalog use cases, one module per aggregate."""
