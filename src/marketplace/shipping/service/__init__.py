"""Shipping use cases: following shipments (tracking), carrier webhooks, polling."""
