"""Webhook checks run in constant time and refuse anything that does not match."""

from __future__ import annotations

import hashlib
import hmac

from omniline.channels.webhook import secrets_match, signature_matches


def test_secret_header_must_match_exactly() -> None:
    assert secrets_match("s3cret-token", "s3cret-token")
    assert not secrets_match("s3cret-tokem", "s3cret-token")
    assert not secrets_match("", "s3cret-token")
    assert not secrets_match(None, "s3cret-token")


def test_hmac_signature_of_the_raw_body() -> None:
    body = b'{"event":"message"}'
    key = b"auth-token"
    good = hmac.new(key, body, hashlib.sha256).hexdigest()
    assert signature_matches(body, key, good)
    assert signature_matches(body, key, good.upper())
    assert not signature_matches(body + b" ", key, good)
    assert not signature_matches(body, b"other", good)
    assert not signature_matches(body, key, None)
    assert not signature_matches(body, key, "zz")
