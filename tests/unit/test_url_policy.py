"""Plain http only to loopback (docs/contract.md section 2), decided on the parsed host."""

from __future__ import annotations

import pytest

from recovery_ledger.infra.cloud.url_policy import BadCloudUrl, InsecureCloudUrl, check_cloud_url


@pytest.mark.parametrize(
    ("url", "normalized"),
    [
        ("https://cloud.example.com", "https://cloud.example.com"),
        ("https://cloud.example.com/api/", "https://cloud.example.com/api"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.9.9.9", "http://127.9.9.9"),
        ("http://localhost:1/", "http://localhost:1"),
        ("http://[::1]:9000", "http://[::1]:9000"),
    ],
)
def test_https_anywhere_and_http_to_loopback_are_accepted(url: str, normalized: str) -> None:
    assert check_cloud_url(url) == normalized


@pytest.mark.parametrize(
    "url",
    [
        "http://cloud.example.com",
        "http://10.0.0.1",
        "http://128.0.0.1",
        "http://localhost.evil.com",
        "http://127.0.0.1.nip.io",
        "http://[::2]",
    ],
)
def test_plain_http_to_anything_but_loopback_is_refused(url: str) -> None:
    with pytest.raises(InsecureCloudUrl, match="https"):
        check_cloud_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://cloud.example.com",
        "cloud.example.com",
        "https://",
        "http://127.0.0.1@evil.com",
        "https://user:pw@cloud.example.com",
        "https://cloud.example.com/?x=1",
        "https://cloud.example.com/#f",
        "http://127.0.0.1:99999",
    ],
)
def test_urls_that_are_not_plain_base_urls_are_refused(url: str) -> None:
    with pytest.raises(BadCloudUrl):
        check_cloud_url(url)
