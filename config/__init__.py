"""Project configuration package: settings, URLs, Celery and WSGI/ASGI entry points."""

from config.celery import app as celery_app

__all__ = ["celery_app"]
