"""Shipping: carriers, shipments and their tracking, normalised across carriers."""
