"""Notification use cases: composing messages from events, sending them, the in-app feed,
preferences and vendor webhook endpoints."""
