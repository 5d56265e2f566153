"""Staff preview: open the portal with a given configuration as one of the account's customers."""

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from billing.audit import Actor
from billing.exceptions import BillingError
from billing.models import Customer
from billing.selectors import accounts_for_user
from configurations.models import PortalConfiguration
from portal.services import portal_session_create


@require_POST
@staff_member_required
def preview(request: HttpRequest, configuration_id: str) -> HttpResponse:
    configuration = PortalConfiguration.objects.filter(
        pk=configuration_id, account__in=accounts_for_user(request.user)
    ).first()
    if configuration is None:
        raise Http404("No such configuration")
    back = reverse("admin:configurations_portalconfiguration_change", args=[configuration.pk])
    customer = (
        Customer.objects.filter(account_id=configuration.account_id, livemode=configuration.livemode, deleted=False)
        .order_by("-created", "-id")
        .first()
    )
    if customer is None:
        messages.error(request, _("This mode has no customers yet: create one to preview the portal as them."))
        return redirect(back)
    try:
        _session, url = portal_session_create(
            customer=customer,
            actor=Actor.staff(request.user),
            configuration=configuration,
            return_url=request.build_absolute_uri(back),
        )
    except BillingError as error:
        messages.error(request, error.message)
        return redirect(back)
    # The path only: the preview opens on the host the staff member is using.
    return redirect("/" + url.split("://", 1)[1].split("/", 1)[1])
