"""Client order ids: their format is what recovery relies on across restarts and upgrades."""

from __future__ import annotations

import base64
import hashlib

from hypothesis import given
from hypothesis import strategies as st

from core.orders import CLIENT_ID_PREFIX, client_order_id

text = st.text(min_size=1, max_size=60)


@given(source=text, dedupe_key=text, route=text, leg=st.integers(min_value=0, max_value=999))
def test_client_order_id_is_prefix_and_the_digests_first_100_bits_in_base32(
    source: str, dedupe_key: str, route: str, leg: int
) -> None:
    # An independent second computation: the standard library's base32 of the same BLAKE2b digest.
    digest = hashlib.blake2b(f"{source}\x1f{dedupe_key}\x1f{route}\x1f{leg}".encode(), digest_size=13).digest()
    expected = CLIENT_ID_PREFIX + base64.b32encode(digest).decode()[:20].lower()
    cid = client_order_id(source, dedupe_key, route, leg)
    assert cid == expected
    assert len(cid) == 22 and cid.isalnum() and cid.islower()


def test_client_order_ids_differ_by_leg_and_route() -> None:
    ids = {client_order_id("tv", "alert-1", route, leg) for route in ("tv>a", "tv>b") for leg in range(50)}
    assert len(ids) == 100
