"""Portal URLs: the hosted portal under /p/, hosted invoice pages under /i/, the test gateway's 3-D Secure page
under /authenticate/."""

from django.urls import path

from portal.views import (
    authenticate,
    billing_details,
    common,
    invoices,
    invoices_history,
    leave,
    login,
    overview,
    payment_methods,
    preview,
    session,
    subscriptions_cancel,
    subscriptions_update,
)

app_name = "portal"

urlpatterns = [
    path("i/<str:token>/", invoices.hosted_invoice, name="hosted_invoice"),
    path("i/<str:token>/pdf", invoices.hosted_invoice_pdf, name="hosted_invoice_pdf"),
    path("i/<str:token>/pay", invoices.hosted_invoice_pay, name="hosted_invoice_pay"),
    path("authenticate/<str:intent_id>", authenticate.authenticate, name="authenticate"),
    path("p/session/<str:token>", session.redeem, name="session_redeem"),
    path("p/", overview.overview, name="overview"),
    path("p/done", overview.flow_done, name="flow_done"),
    path("p/continue", leave.continue_page, name="leave"),
    path("p/brand/<str:account_id>/<str:kind>/<str:version>", common.brand_image, name="brand_image"),
    path("p/payment-methods/new", payment_methods.add, name="payment_method_add"),
    path("p/payment-methods/new/return", payment_methods.add_return, name="payment_method_add_return"),
    path(
        "p/payment-methods/<str:payment_method_id>/default", payment_methods.make_default, name="payment_method_default"
    ),
    path("p/payment-methods/<str:payment_method_id>/remove", payment_methods.remove, name="payment_method_remove"),
    path("p/billing-details", billing_details.edit, name="billing_details"),
    path("p/invoices", invoices_history.history, name="invoice_history"),
    path("p/invoices/<str:invoice_id>/pay", invoices_history.pay, name="invoice_pay"),
    path("p/invoices/<str:invoice_id>/pay/return", invoices_history.pay_return, name="invoice_pay_return"),
    path("p/subscriptions/<str:subscription_id>/update", subscriptions_update.update, name="subscription_update"),
    path(
        "p/subscriptions/<str:subscription_id>/update/confirm",
        subscriptions_update.confirm,
        name="subscription_update_confirm",
    ),
    path("p/subscriptions/<str:subscription_id>/cancel", subscriptions_cancel.cancel, name="subscription_cancel"),
    path(
        "p/subscriptions/<str:subscription_id>/reactivate",
        subscriptions_cancel.reactivate,
        name="subscription_reactivate",
    ),
    path("p/subscriptions/<str:subscription_id>/pause", subscriptions_cancel.pause, name="subscription_pause"),
    path("p/subscriptions/<str:subscription_id>/resume", subscriptions_cancel.resume, name="subscription_resume"),
    path("p/preview/<str:configuration_id>", preview.preview, name="configuration_preview"),
    path("p/login/<str:token>", login.login_page, name="login"),
    path("p/login-link/<str:token>", login.confirm, name="login_link"),
]
