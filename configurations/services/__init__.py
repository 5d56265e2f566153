"""Writes for portal configurations, branding and custom domains; the one place their rules are checked."""
