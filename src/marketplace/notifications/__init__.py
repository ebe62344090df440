"""Notifications: turns other contexts' events into email, SMS, in-app messages and signed
vendor webhooks, once per (event, recipient, channel), with retries and dead letters."""
