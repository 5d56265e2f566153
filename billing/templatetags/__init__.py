"""Template tag libraries of the billing app."""
