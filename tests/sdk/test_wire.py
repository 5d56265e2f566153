"""Wire details every client meets: unknown URLs, oversized bodies."""

import httpx
import pytest
import stripe

from api.encoding import MAX_BODY_BYTES
from billing.models import Customer


@pytest.mark.parametrize("method", ["get", "post", "delete", "put", "patch"])
def test_an_unknown_url_answers_stripes_json_404_for_every_method(live_server, merchant, method):
    response = httpx.request(
        method.upper(),
        f"{live_server.url}/v1/no_such_things/x1",
        headers={"Authorization": f"Bearer {merchant.test_secret}"},
        data={"a": "1"} if method in ("post", "put", "patch") else None,
    )
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"] == f"Unrecognized request URL ({method.upper()}: /v1/no_such_things/x1)."


@pytest.mark.parametrize("path", ["/v1/openapi.json", "/v1/customers/cus_x/no_such_action"])
def test_a_post_to_a_get_only_or_unknown_url_is_a_json_404_not_a_csrf_page(live_server, path):
    response = httpx.post(f"{live_server.url}{path}", data={"a": "1"})
    assert response.status_code == 404
    assert response.json()["error"]["message"].startswith("Unrecognized request URL (POST: ")


def test_the_sdk_raises_an_invalid_request_error_for_an_unknown_post(client):
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.raw_request("post", "/v1/no_such_things", a="1")
    assert error.value.http_status == 404


@pytest.mark.parametrize("size", [MAX_BODY_BYTES + 1, 3 * 1024 * 1024])
def test_a_body_over_the_limit_answers_413_with_stripes_error(live_server, merchant, size):
    body = b"description=" + b"x" * size
    response = httpx.post(
        f"{live_server.url}/v1/customers",
        headers={
            "Authorization": f"Bearer {merchant.test_secret}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        content=body,
        timeout=30,
    )
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "request_too_large"


def test_djangos_own_upload_limit_also_answers_413(live_server, merchant, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000  # below ours: Django refuses while reading the body
    response = httpx.post(
        f"{live_server.url}/v1/customers",
        headers={"Authorization": f"Bearer {merchant.test_secret}"},
        data={"description": "x" * 2000},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"email": "ada@example.com"}'),
        (
            "multipart/form-data; boundary=BoUnDaRy",
            b'--BoUnDaRy\r\nContent-Disposition: form-data; name="email"\r\n\r\nada@example.com\r\n--BoUnDaRy--\r\n',
        ),
        ("text/plain; charset=utf-8", b"email=ada@example.com"),
        ("", b"email=ada@example.com"),
    ],
)
def test_a_body_that_is_not_form_encoded_answers_stripes_error_and_writes_nothing(
    live_server, merchant, content_type, body
):
    response = httpx.post(
        f"{live_server.url}/v1/customers",
        headers={"Authorization": f"Bearer {merchant.test_secret}", "Content-Type": content_type},
        content=body,
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith(f"Invalid request: unsupported Content-Type {content_type}.")
    assert not Customer.objects.exists()


def test_a_form_encoded_body_with_a_charset_and_an_empty_post_are_accepted(live_server, merchant):
    headers = {"Authorization": f"Bearer {merchant.test_secret}"}
    response = httpx.post(
        f"{live_server.url}/v1/customers",
        headers=headers | {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        content=b"email=ada%40example.com",
    )
    assert response.status_code == 200 and response.json()["email"] == "ada@example.com"
    assert httpx.post(f"{live_server.url}/v1/customers", headers=headers).status_code == 200
