"""Custom domains: a verified merchant hostname serves that merchant's portal and nothing else."""

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponseNotFound
from django.http.request import split_domain_port

from configurations.selectors import account_for_host

# What a custom domain serves: the portal, hosted invoices, hosted Checkout, and their static files.
CUSTOM_DOMAIN_PATHS = ("/p/", "/i/", "/c/", "/l/", "/static/")


def _exact_allowed_hosts() -> set[str]:
    """The ALLOWED_HOSTS entries that name one host; a pattern (".example.com") could also match a merchant's
    domain, so such hosts are looked up as custom domains first."""
    return {host.lower() for host in settings.ALLOWED_HOSTS if host != "*" and not host.startswith(".")}


class CustomDomainMiddleware:
    """Runs first. A verified custom domain is accepted for portal paths only (and then only that merchant's rows
    are served: views compare ``request.custom_domain_account``); our own hosts pass untouched; any other host
    gets a 404 (not Django's 400), without ``ALLOWED_HOSTS = ["*"]``."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        raw_host = request.META.get("HTTP_HOST") or request.META.get("SERVER_NAME", "")
        domain, port = split_domain_port(raw_host.strip().lower())
        request.custom_domain_account = None
        if domain not in _exact_allowed_hosts():
            account = account_for_host(raw_host)
            if account is not None:
                return self._custom_domain(request, account, f"{domain}:{port}" if port else domain)
        try:
            request.get_host()
        except DisallowedHost:
            return self._not_found()
        return self.get_response(request)

    def _custom_domain(self, request: HttpRequest, account, host: str):
        if not request.path.startswith(CUSTOM_DOMAIN_PATHS):
            return self._not_found()
        request.custom_domain_account = account
        # The host was checked against the verified domains: later code (CSRF origin checks, absolute URLs)
        # may use it as Django uses an allowed host.
        request.get_host = lambda: host
        return self.get_response(request)

    @staticmethod
    def _not_found():
        return HttpResponseNotFound("Not found", content_type="text/plain")
