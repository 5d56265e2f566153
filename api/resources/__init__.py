"""API resources, one module per Stripe object; importing them registers their operations."""

from api.resources import customers  # noqa: F401
