"""Customer-facing views."""
