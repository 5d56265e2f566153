"""The payment processors' webhooks: Stripe and Mollie tell us here how payments, setups and refunds that settle
later (SEPA debits, authentication on the bank's page, refunds) ended."""

import logging

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from billing.exceptions import BillingError, GatewayUnavailable
from billing.services.intents.processor_events import processor_webhook_receive

logger = logging.getLogger(__name__)


@csrf_exempt
@require_POST
def processor_webhook(request, processor: str, account_id: str):
    """200 once every event is applied (or was before); 400 for a request that is not the processor's, which it
    does not send again; 503 when the processor could not be asked, so that it does."""
    try:
        outcomes = processor_webhook_receive(
            processor=processor, account_id=account_id, body=request.body, headers=dict(request.headers)
        )
    except GatewayUnavailable:
        logger.warning("processor webhook for %s: %s could not be reached", account_id, processor)
        return _error("The payment processor could not be reached to verify this webhook; send it again.", 503)
    except BillingError as error:
        logger.warning("processor webhook for %s refused: %s", account_id, error.message)
        return _error(error.message, 400)
    return JsonResponse({"received": True, "events": outcomes})


def _error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": {"type": "invalid_request_error", "message": message}}, status=status)
