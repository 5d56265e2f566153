"""A separate Django project using dj-stripe, pointed at our server: run in a subprocess by tests/test_djstripe.py."""
