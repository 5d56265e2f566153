"""URLconf of the API benchmark (bench/api.py): the product's URLs plus two bare baseline views.

The baseline views are served by the same gunicorn, through the same middleware, as the API, but live
only here (bench/api_wsgi.py makes this the ROOT_URLCONF), never in the product's ``config.urls``:

- ``POST /bench/insert``: one raw INSERT into ``bench_baseline`` (a table bench/api.py creates);
- ``GET /bench/select``: one SELECT of 10 rows from it.

bench/run.py runs every ``bench/*.py`` as a script: run directly, this module does nothing.
"""

from django.db import connection
from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST


@csrf_exempt
@require_POST
def baseline_insert(request):
    email = request.POST.get("email", "")
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_baseline (email) VALUES (%s) RETURNING id", [email])
        (row_id,) = cursor.fetchone()
    return JsonResponse({"id": row_id})


@csrf_exempt
@require_GET
def baseline_select(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, email, created FROM bench_baseline ORDER BY id DESC LIMIT 10")
        rows = cursor.fetchall()
    return JsonResponse(
        {
            "object": "list",
            "data": [{"id": i, "email": email, "created": int(created.timestamp())} for i, email, created in rows],
        }
    )


def _urlpatterns() -> list:
    from config.urls import urlpatterns as product

    # The bench paths first: nothing in the product may shadow them.
    return [path("bench/insert", baseline_insert), path("bench/select", baseline_select), *product]


urlpatterns = [] if __name__ == "__main__" else _urlpatterns()
