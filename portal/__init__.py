"""The hosted customer portal and the public invoice pages."""
