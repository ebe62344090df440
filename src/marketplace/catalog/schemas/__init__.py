"""Catalog request and response bodies."""
