"""Vendor queries, one module per aggregate."""
