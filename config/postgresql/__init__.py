"""Django's PostgreSQL backend with one index per identifier column instead of two (see ``base``)."""
