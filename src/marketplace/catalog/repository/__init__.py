"""Catalog queries, one module per aggregate, and the browse/search query."""
