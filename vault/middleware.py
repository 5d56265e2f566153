"""The vault's host serves the vault and nothing else; no other host serves it."""

from django.http import HttpRequest

from vault.hosts import request_host, shares_portal_host, vault_host

VAULT_PATHS = "/vault/"


class VaultHostMiddleware:
    """Runs after the host was checked (``CustomDomainMiddleware``). On VAULT_BASE_URL's host, requests resolve
    against ``vault.urls`` alone, so every other page answers 404 there; elsewhere the vault's URLs do not exist.
    When VAULT_BASE_URL is on the portal's host, that host serves both (``check --deploy`` warns)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        if request_host(request) == vault_host() and (
            not shares_portal_host() or request.path_info.startswith(VAULT_PATHS)
        ):
            request.urlconf = "vault.urls"
        return self.get_response(request)
