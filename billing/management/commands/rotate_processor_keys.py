"""Encrypt every stored payment processor secret again with the first of BILLING_ENCRYPTION_KEYS."""

from django.core.management.base import BaseCommand

from billing.audit import Actor
from billing.models import ProcessorAccount
from billing.services.processors import processor_account_rotate_keys


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored payment processor secret with the first key of BILLING_ENCRYPTION_KEYS. Run it "
        "after putting a new key first; once it has run, the old keys can be removed."
    )

    def handle(self, *args, **options):
        actor = Actor.system("rotate_processor_keys")
        ids = list(ProcessorAccount.objects.order_by("pk").values_list("pk", flat=True))
        # One short transaction per row: payments keep flowing while a large installation rotates.
        rotated = sum(processor_account_rotate_keys(processor_account_id=pk, actor=actor) for pk in ids)
        self.stdout.write(f"Re-encrypted the secrets of {rotated} of {len(ids)} payment processor settings.")
