"""Every admin list at a 1400 px wide window, in German (the longer labels): the key columns fit, no horizontal
scrolling; screenshots of German admin pages in test-artifacts/."""

import pytest
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.utils import quote
from django.urls import reverse

from tests.factories.admin import populated_account

from .conftest import watch

WIDTH = 1400
SCREENSHOTS = ("billing_subscription", "billing_invoice", "billing_event")


@pytest.fixture
def admin_page(transactional_db, live_server, browser, client):
    """A superuser with a membership of an account holding a row of every model, in a German 1400 px window."""
    tenant = populated_account("Alpha", staff_email="staff@alpha.example")
    populated_account("Beta", staff_email="staff@beta.example")
    tenant.staff.is_superuser = True
    tenant.staff.save()
    client.force_login(tenant.staff)
    context = browser.new_context(viewport={"width": WIDTH, "height": 900}, locale="de-DE")
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    page = context.new_page()
    yield page, tenant
    context.close()


def test_every_changelist_fits_1400_px_without_horizontal_scrolling(admin_page, live_server, artifacts):
    page, tenant = admin_page
    problems = watch(page)
    too_wide, counted = {}, 0
    for model in admin.site._registry:
        name = f"{model._meta.app_label}_{model._meta.model_name}"
        page.goto(live_server.url + reverse(f"admin:{name}_changelist"))
        assert page.locator("html").get_attribute("lang") == "de"
        # The admin scrolls a too wide table inside its .results box, so both the page and that box must fit.
        page_width, window_width, table_width, box_width, rows = page.evaluate(
            """() => {
                const box = document.querySelector('#changelist .results');
                return [document.scrollingElement.scrollWidth, window.innerWidth,
                        box ? box.scrollWidth : 0, box ? box.clientWidth : 0,
                        document.querySelectorAll('#result_list tbody tr').length];
            }"""
        )
        if rows:
            counted += 1
        if page_width > window_width or table_width > box_width:
            columns = page.evaluate(
                "() => [...document.querySelectorAll('#result_list thead th')].map("
                "th => th.className.replace('sortable', '').trim() + ':' + Math.round(th.getBoundingClientRect().width))"
            )
            too_wide[name] = (page_width, window_width, table_width, box_width, columns)
            page.screenshot(path=str(artifacts / f"admin-too-wide-{name}.png"))
        if name in SCREENSHOTS:
            page.screenshot(path=str(artifacts / f"admin-de-{name}.png"))
    assert counted >= 25  # lists with rows, not empty ones
    assert not too_wide, "\n".join(f"{name}: {widths}" for name, widths in too_wide.items())
    assert problems == []


def test_german_change_page_screenshot(admin_page, live_server, artifacts):
    page, tenant = admin_page
    url = reverse("admin:billing_subscription_change", args=[quote(tenant.paid_subscription.pk)])
    page.goto(live_server.url + url)
    assert page.locator("h1").inner_text() == "Abonnement ansehen"
    page.screenshot(path=str(artifacts / "admin-de-subscription-change.png"), full_page=True)


# Each word of a sidebar link whose letters fall on more than one line, and where it breaks: a break is right only
# after a hyphen or a soft hyphen (a hyphenation point), never at an arbitrary letter.
BROKEN_WORDS = """() => {
    const broken = [];
    for (const link of document.querySelectorAll('#nav-sidebar .module th a')) {
        const walker = document.createTreeWalker(link, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            const text = node.textContent;
            let lastTop = null;
            for (let i = 0; i < text.length; i++) {
                if (/\\s/.test(text[i])) { lastTop = null; continue; }
                const range = document.createRange();
                range.setStart(node, i);
                range.setEnd(node, i + 1);
                // The last box: a letter after a soft hyphen break also holds the hyphen drawn at the line's end.
                const rect = [...range.getClientRects()].filter(r => r.width > 0).pop();
                if (!rect) continue;
                if (lastTop !== null && rect.top > lastTop + 2 && !/[-\\u00ad]/.test(text[i - 1])) {
                    broken.push(text.replace(/\\u00ad/g, '') + ' @ ' + i);
                }
                lastTop = rect.top;
            }
        }
        if (link.scrollWidth > link.parentElement.clientWidth + 1) broken.push(link.textContent + ' (overflows)');
    }
    return broken;
}"""


def test_the_german_sidebar_breaks_long_model_names_only_at_hyphenation_points(admin_page, live_server, artifacts):
    page, _tenant = admin_page
    page.goto(live_server.url + reverse("admin:billing_subscription_changelist"))
    assert page.locator("html").get_attribute("lang") == "de"
    sidebar = page.locator("#nav-sidebar")
    assert sidebar.is_visible()
    sidebar.screenshot(path=str(artifacts / "admin-de-sidebar.png"))
    names = [name.replace("\u00ad", "") for name in sidebar.locator(".module th a").all_inner_texts()]
    assert "Portalkonfigurationen" in names and "Abonnementpositionen" in names
    assert page.evaluate(BROKEN_WORDS) == []
    page.screenshot(path=str(artifacts / "admin-de-sidebar-page.png"))
    # The sidebar's filter still finds a name by any part of it, as typed (without the hyphenation points).
    page.locator("#nav-filter").fill("positionen")
    assert sidebar.locator("tr.model-subscriptionitem").is_visible()
    assert not sidebar.locator("tr.model-customer").is_visible()
