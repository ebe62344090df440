"""Marketplace: an API-only backend for multi-vendor marketplaces."""
