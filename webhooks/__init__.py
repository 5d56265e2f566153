"""Webhook endpoints and signed deliveries of events."""
