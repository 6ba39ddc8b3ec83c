"""Which webhook URLs may be called (SSRF rules), and how deliveries are signed."""

import hashlib
import hmac

import pytest

from db.settings import Settings
from db.webhooks import WebhookUrlRefused, check_webhook_url, signature

STRICT = Settings(_env_file=None)
ALLOWING_LOOPBACK = Settings(_env_file=None, webhook_allowed_hosts=["127.0.0.1"])

REFUSED = {
    "plain http": "http://example.com/hook",
    "another scheme": "ftp://example.com/hook",
    "no host": "https:///hook",
    "not a URL": "https://exa mple.com:99999/",
    "credentials": "https://user:secret@example.com/hook",
    "loopback": "https://127.0.0.1/hook",
    "loopback by name": "https://localhost/hook",
    "another loopback": "https://127.0.0.2:8443/hook",
    "IPv6 loopback": "https://[::1]/hook",
    "IPv4-mapped loopback": "https://[::ffff:127.0.0.1]/hook",
    "private 10/8": "https://10.1.2.3/hook",
    "private 192.168/16": "https://192.168.0.10/hook",
    "carrier-grade NAT": "https://100.64.0.1/hook",
    "link-local": "https://169.254.10.10/hook",
    "AWS metadata": "https://169.254.169.254/latest/meta-data/",
    "AWS metadata over IPv6": "https://[fd00:ec2::254]/latest/meta-data/",
    "IPv6 unique local": "https://[fc00::1]/hook",
    "multicast": "https://224.0.0.1/hook",
    "unspecified": "https://0.0.0.0/hook",
    "reserved": "https://240.0.0.1/hook",
    "does not resolve": "https://no-such-host.invalid/hook",
    "too long": "https://example.com/" + "a" * 2000,
}


@pytest.mark.parametrize("url", REFUSED.values(), ids=REFUSED.keys())
def test_urls_that_could_reach_inside_are_refused(url):
    with pytest.raises(WebhookUrlRefused):
        check_webhook_url(url, STRICT)


def test_a_public_address_is_allowed_and_keeps_its_path_and_query():
    target = check_webhook_url("https://93.184.215.14:8443/hooks/genq?team=7", STRICT)
    assert (target.scheme, target.host, target.port) == ("https", "93.184.215.14", 8443)
    assert target.path == "/hooks/genq?team=7" and target.addresses == ("93.184.215.14",)


def test_allowlisted_hosts_may_be_private_and_plain_http():
    target = check_webhook_url("http://127.0.0.1:8080/hook", ALLOWING_LOOPBACK)
    assert (target.port, target.addresses) == (8080, ("127.0.0.1",))
    with pytest.raises(WebhookUrlRefused):
        check_webhook_url("http://localhost:8080/hook", ALLOWING_LOOPBACK)  # only the names listed


def test_the_signature_covers_the_timestamp_and_the_exact_body():
    body = b'{"id":"x","status":"succeeded"}'
    header = signature("s3cret", 1700000000, body)

    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert signature("s3cret", 1700000001, body) != header
    assert signature("s3cret", 1700000000, body + b" ") != header
    assert signature("other", 1700000000, body) != header
