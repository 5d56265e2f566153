"""/v1/test_helpers/test_clocks: Stripe's test clocks (test mode only), see ``billing.services.test_clocks``."""

from api import errors
from api import params as p
from api.pagination import page
from api.router import operation
from billing import representations
from billing.models import TestClock
from billing.services.test_clocks import clock_advance, clock_create, clock_delete

TAGS = ["Test clocks"]
PATH = "/v1/test_helpers/test_clocks"
LIVE_MODE = errors.ApiError(
    "Test clocks are only available in test mode: use a test mode key (sk_test_…).",
    status=400,
    code="livemode_not_allowed",
)


def _test_mode(ctx) -> None:
    if ctx.livemode:
        raise LIVE_MODE


def _get(ctx, test_clock: str) -> TestClock:
    # A live key finds no test clock (they are test-mode objects): Stripe's 404, as for any id of the other mode.
    return ctx.get(TestClock, test_clock, "test_clock")


@operation(
    "POST",
    PATH,
    params={
        "frozen_time": p.Timestamp(
            required=True, description="The clock's initial time (2000-01-01 to 5 years ahead)."
        ),
        "name": p.String(max_length=300),
        "expand": p.EXPAND,
    },
    response="test_helpers.test_clock",
    summary="Create a test clock",
    tags=TAGS,
)
def create(ctx, params):
    _test_mode(ctx)
    test_clock = clock_create(
        account=ctx.account,
        livemode=ctx.livemode,
        actor=ctx.actor,
        frozen_time=params["frozen_time"],
        name=params.get("name") or "",
    )
    return representations.test_clock(test_clock)


@operation(
    "GET",
    PATH + "/{test_clock}",
    params={"expand": p.EXPAND},
    response="test_helpers.test_clock",
    summary="Retrieve a test clock",
    tags=TAGS,
)
def retrieve(ctx, params, test_clock):
    return representations.test_clock(_get(ctx, test_clock))


@operation("GET", PATH, params=p.LIST, response="list[test_helpers.test_clock]", summary="List test clocks", tags=TAGS)
def list_(ctx, params):
    # A live key lists nothing: test clocks exist in test mode only (the scope below holds none for it).
    queryset = ctx.scope(TestClock).filter(deleted=False)
    return page(queryset, params, url=PATH, render=representations.test_clock, label="test_clock")


@operation(
    "DELETE",
    PATH + "/{test_clock}",
    params={},
    response="deleted_test_helpers.test_clock",
    summary="Delete a test clock (and the customers on it)",
    tags=TAGS,
)
def delete(ctx, params, test_clock):
    deleted = clock_delete(test_clock=_get(ctx, test_clock), actor=ctx.actor)
    return representations.test_clock(deleted)


@operation(
    "POST",
    PATH + "/{test_clock}/advance",
    params={
        "frozen_time": p.Timestamp(
            required=True,
            description="Later than the clock's time; at most two intervals of its shortest subscription ahead "
            "(two years without subscriptions).",
        ),
        "expand": p.EXPAND,
    },
    response="test_helpers.test_clock",
    summary="Advance a test clock (asynchronously: status advancing, then ready)",
    tags=TAGS,
)
def advance(ctx, params, test_clock):
    advanced = clock_advance(test_clock=_get(ctx, test_clock), frozen_time=params["frozen_time"], actor=ctx.actor)
    return representations.test_clock(advanced)
