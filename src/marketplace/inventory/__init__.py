"""Inventory: stock per variant, its adjustment log, low-stock alerts, and the reservations
that keep checkouts from selling units that are not there."""
