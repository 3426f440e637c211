"""The broker URL: plain and TLS, credentials, TLS files, and a password that never shows."""

from __future__ import annotations

import ssl

import pytest

from monitor.mqtt import tls_parameters
from monitor.wire.address import BrokerAddress, BrokerTls, parse_broker_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://broker", BrokerAddress("broker", 1883)),
        ("tcp://broker:1884", BrokerAddress("broker", 1884)),
        ("mqtt://svc:pw@broker", BrokerAddress("broker", 1883, "svc", "pw")),
        ("mqtts://svc:pw@broker", BrokerAddress("broker", 8883, "svc", "pw", BrokerTls())),
        (
            "mqtts://svc:p%40ss%2Fw@broker:9883?ca=/etc/ca.pem",
            BrokerAddress("broker", 9883, "svc", "p@ss/w", BrokerTls(ca="/etc/ca.pem")),
        ),
        (
            "mqtts://svc:pw@broker/?ca=ca.pem&cert=me.pem&key=me.key",
            BrokerAddress("broker", 8883, "svc", "pw", BrokerTls("ca.pem", "me.pem", "me.key")),
        ),
        (
            "mqtts://broker?cert=both.pem",
            BrokerAddress("broker", 8883, tls=BrokerTls(cert="both.pem")),
        ),
        ("mqtt://[::1]:1883", BrokerAddress("::1", 1883)),
    ],
)
def test_a_broker_url_parses_to_its_address(url: str, expected: BrokerAddress) -> None:
    assert parse_broker_url(url) == expected


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("mqtt://broker", "mqtt://broker:1883"),
        ("mqtt://svc@broker:1", "mqtt://svc@broker:1"),
        ("mqtt://svc:secret@broker", "mqtt://svc:***@broker:1883"),
        ("mqtts://svc:secret@broker?ca=/etc/ca.pem", "mqtts://svc:***@broker:8883?ca=/etc/ca.pem"),
        ("mqtts://a%40b:secret@[::1]", "mqtts://a%40b:***@[::1]:8883"),
    ],
)
def test_the_url_shown_hides_the_password(url: str, redacted: str) -> None:
    address = parse_broker_url(url)
    assert address.redacted == redacted
    assert address.url == redacted
    assert "secret" not in repr(address)
    assert parse_broker_url(address.redacted.replace("***", "secret")) == address


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://svc:secret@broker", "must look like"),
        ("mqtt://svc:secret@broker:99999", "bad port"),
        ("mqtt://svc:secret@broker?ca=ca.pem", "mqtts:// only"),
        ("mqtts://svc:secret@broker?ca=", "needs exactly one file"),
        ("mqtts://svc:secret@broker?ca=a&ca=b", "needs exactly one file"),
        ("mqtts://svc:secret@broker?cafile=a", "unknown option 'cafile'"),
        ("mqtts://svc:secret@broker?key=me.key", "needs its certificate"),
        ("mqtts://svc:secret@broker/topic", "nothing may follow"),
        ("mqtt://svc:sec/ret@broker", "%2F"),
        ("mqtt://:secret@broker", "no user name"),
    ],
)
def test_a_bad_broker_url_says_what_is_wrong_and_never_repeats_the_password(
    url: str, says: str
) -> None:
    with pytest.raises(ValueError, match=says) as raised:
        parse_broker_url(url)
    assert "secret" not in str(raised.value)
    assert "sec/ret" not in str(raised.value)


def test_tls_parameters_verify_the_broker_and_present_the_client_certificate() -> None:
    assert tls_parameters(None) is None
    params = tls_parameters(BrokerTls("ca.pem", "me.pem", "me.key"))
    assert params is not None
    assert (params.ca_certs, params.certfile, params.keyfile) == ("ca.pem", "me.pem", "me.key")
    assert params.cert_reqs == ssl.CERT_REQUIRED
