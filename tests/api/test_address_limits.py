"""Requests without a valid key, per client address: past the budget an address
gets 429 with Retry-After (in the shape of the API asked, before any key check),
another address is counted on its own, and X-Forwarded-For is believed only from
a trusted proxy."""

import ipaddress

import pytest

from tests.api.conftest import close_app
from tests.support.http import auth_headers
from web import create_app
from web.address_limits import client_address

BUDGET = 3


@pytest.fixture
def limited_app(settings):
    app = create_app(settings.model_copy(update={"unauthenticated_requests_per_minute": BUDGET}))
    yield app
    close_app(app)


def from_address(app, address: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def test_an_address_out_of_its_budget_gets_429_even_with_a_valid_key(limited_app, api_key):
    guesser = from_address(limited_app, "203.0.113.7")
    wrong = auth_headers("genq_" + "x" * 43)

    assert [guesser.get("/api/v1/jobs", headers=wrong).status_code for _ in range(BUDGET)] == [401] * BUDGET
    refused = guesser.get("/api/v1/jobs", headers=auth_headers(api_key))
    assert refused.status_code == 429
    assert refused.json["error"]["code"] == "too_many_unauthenticated_requests"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # The compatible APIs answer in their own shape; another address is not affected.
    assert guesser.get("/v1/models", headers=wrong).json["error"]["code"] == "too_many_unauthenticated_requests"
    assert (
        from_address(limited_app, "198.51.100.1").get("/api/v1/jobs", headers=auth_headers(api_key)).status_code == 200
    )


def test_valid_keys_and_public_routes_cost_no_budget(limited_app, api_key):
    client = from_address(limited_app, "203.0.113.8")
    for _ in range(BUDGET + 2):
        assert client.get("/api/v1/jobs", headers=auth_headers(api_key)).status_code == 200
        assert client.get("/healthz").status_code in (200, 503)
    assert client.get("/api/v1/jobs", headers=auth_headers("genq_wrong")).status_code == 401


def test_refused_sign_ins_count_too(limited_app):
    client = from_address(limited_app, "203.0.113.9")
    for _ in range(BUDGET):
        assert client.post("/signin", data={"key": "genq_wrong"}).status_code in (400, 422)
    assert client.post("/signin", data={"key": "genq_wrong"}).status_code == 429


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        ("203.0.113.5", "1.2.3.4", [], "203.0.113.5"),  # no trusted proxy: the header is ignored
        ("10.0.0.2", "1.2.3.4", ["10.0.0.0/8"], "1.2.3.4"),
        ("10.0.0.2", "1.2.3.4, 10.0.0.9", ["10.0.0.0/8"], "1.2.3.4"),  # two hops of our own proxies
        ("10.0.0.2", "6.6.6.6, 1.2.3.4", ["10.0.0.0/8"], "1.2.3.4"),  # what the client wrote itself is not read
        ("203.0.113.5", "1.2.3.4", ["10.0.0.0/8"], "203.0.113.5"),  # a peer that is no proxy of ours
    ],
)
def test_the_client_address_is_read_past_trusted_proxies_only(peer, forwarded, trusted, expected):
    networks = [ipaddress.ip_network(network) for network in trusted]
    assert client_address(peer, forwarded, networks) == expected
