"""Stand-ins for an external payment processor that misbehaves (the processor is not our code)."""

import threading
import time

from billing.exceptions import GatewayUnavailable
from billing.gateways.base import ChargeResult, RefundResult
from billing.gateways.test import TestGateway


class UnavailableGateway(TestGateway):
    """Tokenizes like the test gateway but cannot be reached when charging."""

    def charge(self, **kwargs):
        raise GatewayUnavailable("The payment gateway did not answer; nothing was charged.")


class LostAnswerGateway(TestGateway):
    """A processor that charges, keeps a record per idempotency key (as real processors do) and answers a repeated
    call from that record; the first answer for each key is lost on the way back (the worker died meanwhile)."""

    ledger: dict[str, ChargeResult] = {}
    calls: list[str] = []

    def charge(self, *, idempotency_key: str, **kwargs):
        LostAnswerGateway.calls.append(idempotency_key)
        if idempotency_key in LostAnswerGateway.ledger:
            return LostAnswerGateway.ledger[idempotency_key]
        LostAnswerGateway.ledger[idempotency_key] = super().charge(idempotency_key=idempotency_key, **kwargs)
        raise ConnectionResetError("the answer never arrived")


class SlowGateway(TestGateway):
    """Answers after 200 ms and records when each call started and ended (to see calls overlap)."""

    spans: list[tuple[float, float]] = []
    lock = threading.Lock()

    def charge(self, **kwargs):
        started = time.monotonic()
        time.sleep(0.2)
        result = super().charge(**kwargs)
        with SlowGateway.lock:
            SlowGateway.spans.append((started, time.monotonic()))
        return result


class RefundLedgerGateway(TestGateway):
    """Refunds as a processor keeps them: one per idempotency key, a repeated call answered from the record. While
    ``down`` it cannot be reached; ``answer`` overrides the status of new refunds (``failed``, ``pending``)."""

    ledger: dict[str, RefundResult] = {}
    calls: list[str] = []
    down = False
    answer = ""

    def refund(self, *, idempotency_key: str, **kwargs):
        RefundLedgerGateway.calls.append(idempotency_key)
        if RefundLedgerGateway.down:
            raise GatewayUnavailable("The payment gateway did not answer; nothing was refunded.")
        if idempotency_key not in RefundLedgerGateway.ledger:
            result = super().refund(idempotency_key=idempotency_key, **kwargs)
            if RefundLedgerGateway.answer == "failed":
                result = RefundResult(status="failed", failure_reason="expired_or_canceled_card")
            elif RefundLedgerGateway.answer:
                result = RefundResult(status=RefundLedgerGateway.answer, reference=result.reference)
            RefundLedgerGateway.ledger[idempotency_key] = result
        return RefundLedgerGateway.ledger[idempotency_key]

    @classmethod
    def reset(cls) -> None:
        cls.ledger, cls.calls, cls.down, cls.answer = {}, [], False, ""
