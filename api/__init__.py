"""The Stripe-compatible HTTP API."""
