"""Vendors: applications and their review, stores and their settings, staff, payout accounts,
KYC status, and the commission rules the platform charges."""
