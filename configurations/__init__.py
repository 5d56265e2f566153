"""Portal configurations, branding and custom domains."""
