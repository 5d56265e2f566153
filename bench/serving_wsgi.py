"""WSGI entry point of the HTTP benchmarks: ``gunicorn bench.serving_wsgi:application`` (started by bench/serving.py).

The product's settings and middleware, with ``ROOT_URLCONF = "bench.serving_urls"`` (the product's URLs plus
the benchmarks' baseline views) set before the WSGI handler is built.

bench/run.py runs every ``bench/*.py`` as a script: run directly, this module does nothing.
"""

import os


def _application():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler

    django.setup(set_prefix=False)
    settings.ROOT_URLCONF = "bench.serving_urls"
    return WSGIHandler()


if __name__ != "__main__":
    application = _application()
