"""Calling the API the way a German-speaking client would, without the SDK (which sends no Accept-Language)."""

from django.test import Client

from billing.services.accounts import api_key_create


def post_in_german(account, path: str, body: str, *, livemode: bool = False):
    """``POST path`` with the form-encoded ``body``, a new key of ``account`` and ``Accept-Language: de``."""
    _key, secret = api_key_create(account=account, livemode=livemode)
    return Client().post(
        path,
        body,
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
        HTTP_ACCEPT_LANGUAGE="de",
    )
