"""System checks of the vault's settings (``manage.py check --deploy``)."""

from django.core import checks

from vault.hosts import shares_portal_host


@checks.register(checks.Tags.security, deploy=True)
def vault_has_its_own_origin(app_configs, **kwargs) -> list[checks.CheckMessage]:
    if not shares_portal_host():
        return []
    return [
        checks.Warning(
            "VAULT_BASE_URL is on the portal's host: the test gateway's card fields are served from the portal's own "
            "origin, so a flaw in a portal page could read what customers type into them.",
            hint="Give the vault its own host name, e.g. VAULT_BASE_URL=https://vault.billing.example.com (served by "
            "the same application; the host is added to ALLOWED_HOSTS).",
            id="vault.W001",
        )
    ]
