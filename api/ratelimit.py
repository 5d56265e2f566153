"""Per-key request rate limits (Stripe's numbers: 100/s live, 25/s test) in Django's cache."""

import time

from django.conf import settings
from django.core.cache import cache

from api.errors import ApiError


def check(caller) -> None:
    limit = settings.API_RATE_LIMIT_LIVE if caller.livemode else settings.API_RATE_LIMIT_TEST
    if not limit:
        return
    window = int(time.time())
    name = f"ratelimit:{caller.key.pk}:{window}"
    cache.add(name, 0, timeout=2)
    try:
        count = cache.incr(name)
    except ValueError:  # expired between add and incr
        cache.add(name, 1, timeout=2)
        count = 1
    if count > limit:
        raise ApiError(
            "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.",
            status=429,
            code="rate_limit",
        )
