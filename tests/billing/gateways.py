"""Stand-ins for an external payment provider that is down (the provider is not our code)."""

from billing.exceptions import GatewayUnavailable
from billing.gateways.test import TestGateway


class UnavailableGateway(TestGateway):
    """Tokenizes like the test gateway but cannot be reached when charging."""

    def charge(self, **kwargs):
        raise GatewayUnavailable("The payment gateway did not answer; nothing was charged.")
