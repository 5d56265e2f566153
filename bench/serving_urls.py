"""URLconf of the HTTP benchmarks (bench/api.py, bench/portal.py): the product's URLs plus bare baseline views.

The baseline views are served by the same gunicorn, through the same middleware, as the product, but live
only here (bench/serving_wsgi.py makes this the ROOT_URLCONF), never in the product's ``config.urls``:

- ``POST /bench/insert``: one raw INSERT into ``bench_baseline`` (a table the benchmarks create);
- ``GET /bench/select``: one SELECT of 10 rows from it, as JSON;
- ``GET /bench/page``: the same SELECT rendered by a small Django template, as an HTML page.

bench/run.py runs every ``bench/*.py`` as a script: run directly, this module does nothing.
"""

from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.template import Context, Engine
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{{ title }}</title></head>
<body>
<main>
<h1>{{ title }}</h1>
<table>
<thead><tr><th scope="col">Id</th><th scope="col">Email</th><th scope="col">Created</th></tr></thead>
<tbody>
{% for id, email, created in rows %}<tr><th scope="row">{{ id }}</th><td>{{ email }}</td><td>{{ created|date:"Y-m-d H:i" }}</td></tr>
{% empty %}<tr><td colspan="3">No rows</td></tr>
{% endfor %}</tbody>
</table>
</main>
</body>
</html>
"""


def _latest_rows() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, email, created FROM bench_baseline ORDER BY id DESC LIMIT 10")
        return cursor.fetchall()


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
    return JsonResponse(
        {
            "object": "list",
            "data": [
                {"id": i, "email": email, "created": int(created.timestamp())} for i, email, created in _latest_rows()
            ],
        }
    )


@require_GET
def baseline_page(request):
    return HttpResponse(_page.render(Context({"title": "Baseline", "rows": _latest_rows()})))


def _urlpatterns() -> list:
    from config.urls import urlpatterns as product

    # The bench paths first: nothing in the product may shadow them.
    return [
        path("bench/insert", baseline_insert),
        path("bench/select", baseline_select),
        path("bench/page", baseline_page),
        *product,
    ]


if __name__ == "__main__":
    urlpatterns = []
else:
    _page = Engine.get_default().from_string(PAGE)
    urlpatterns = _urlpatterns()
