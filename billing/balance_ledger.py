"""The customer balance ledger: every change of ``Customer.balance`` writes one row, in the same transaction."""

from billing.models import Customer, CustomerBalanceTransaction


def record(
    customer: Customer,
    *,
    amount: int,
    type: str,
    currency: str = "",
    invoice_id: str = "",
    description: str = "",
    metadata: dict | None = None,
) -> CustomerBalanceTransaction:
    """``customer.balance`` already holds the new balance (``amount`` was added to it)."""
    return CustomerBalanceTransaction.objects.create(
        account_id=customer.account_id,
        livemode=customer.livemode,
        customer=customer,
        type=type,
        amount=amount,
        currency=currency or customer.currency,
        ending_balance=customer.balance,
        invoice_id=invoice_id,
        description=description,
        metadata=metadata or {},
    )
