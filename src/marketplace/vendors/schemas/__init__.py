"""Vendor request and response bodies."""
