"""Checkout services, one module per verb: ``create`` (a session), ``discounts`` (a promotion code typed on the
page), ``complete`` (the customer confirms: pay or set up, then complete once), ``expire`` (by the API or the
sweep), with ``amounts`` (what a session costs) shared."""
