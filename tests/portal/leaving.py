"""Following a redirect to another origin that goes by the portal's continue page (``portal.leave``)."""

import html
import re

REFRESH = re.compile(r'<meta http-equiv="refresh" content="0; url=([^"]+)">')


def left_for(client, response) -> str:
    """The URL a 303 to the continue page leads on to by GET; checks the page on the way."""
    assert response.status_code == 303, response.status_code
    location = response["Location"]
    assert location.startswith("/p/continue?to="), location
    page = client.get(location)
    assert page.status_code == 200
    assert page["Cache-Control"] == "private, no-store"
    assert "form-action 'self'" in page["Content-Security-Policy"]
    text = page.content.decode()
    url = html.unescape(REFRESH.search(text).group(1))
    assert f'href="{html.escape(url)}"' in text
    return url
