"""The log viewer in a real browser (Debian's Chromium driven by Playwright) against the real daemon.

Set ``UPDATE_SCREENSHOT=1`` to refresh ``docs/logviewer.png``; otherwise the screenshot goes to the
test's temporary folder.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from benchmarks.logviewer_load import CHROMIUM, CHROMIUM_ARGS, write_log
from tests.e2e.daemon import ROOT, running_daemon

try:
    from playwright.sync_api import Page, expect, sync_playwright
except ImportError:  # pragma: no cover - reported by the check below
    sync_playwright = None  # type: ignore[assignment]

pytestmark = pytest.mark.e2e

TOKEN = "browser-token-123"
VIEW_KEY = "viewer-key-browser-1"
CONFIG = """
[[sources]]
name = "tv"
kind = "tradingview"
token = "env:TV_TOKEN"

[[accounts]]
name = "paper-a"
venue = "paper"
balance = 10000

[[accounts]]
name = "paper-b"
venue = "paper"
balance = 5000

[[routes]]
source = "tv"
account = "paper-a"

[[routes]]
source = "tv"
account = "paper-b"
sizing = { mode = "equity_ratio", source_equity = 10000 }

[[api_keys]]
name = "viewer"
key = "env:VIEW_KEY"
scopes = ["read"]
"""
ENV = {"TV_TOKEN": TOKEN, "VIEW_KEY": VIEW_KEY}


def _browser_ready() -> None:
    missing = []
    if sync_playwright is None:
        missing.append("the playwright package")
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        missing.append(CHROMIUM)
    if missing:
        message = "browser tests need " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _open(pw, daemon) -> Page:
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(15_000)
    return context.new_page()


def _log_in(page: Page, key: str) -> None:
    page.fill("#key", key)
    page.click("button[type=submit]")


def _webhook(daemon, body: dict) -> str:
    status, answer = daemon.post(f"/webhook/tv?token={TOKEN}", body)
    assert status == 200, answer
    return str(answer["signal_id"])


def test_log_in_see_live_events_filter_and_read_a_signals_story(tmp_path):
    _browser_ready()
    # some history from other accounts and venues, as a long-running copier would have
    write_log(tmp_path / "data" / "mirror.jsonl", 3000)
    with running_daemon(tmp_path, CONFIG, env=ENV) as daemon, sync_playwright() as pw:
        page = _open(pw, daemon)
        page.goto(daemon.api + "/logs")
        _log_in(page, "not-a-key")
        expect(page.locator(".error")).to_contain_text("not valid")
        _log_in(page, VIEW_KEY)
        rows = page.locator("#rows .row:not([hidden])")
        expect(rows.first).to_be_visible()
        expect(page.locator("#count")).to_contain_text("events")
        expect(page.locator(".chip[data-account='paper-a']")).to_have_attribute("data-state", "up")
        expect(page.locator(".chip[data-account='paper-b']")).to_have_attribute("data-state", "up")
        expect(page.locator("#live")).to_have_attribute("data-state", "live")

        # live: a webhook's events appear without reloading
        filled = _webhook(daemon, {"action": "buy", "symbol": "EURUSD", "volume": 0.1})
        expect(page.locator(f"#rows .row[data-signal='{filled}'] .c-ev", has_text="signal_accepted")).to_be_visible()
        expect(page.locator(f"#rows .row[data-signal='{filled}'] .c-ev", has_text="order_filled")).to_have_count(2)

        # filters are server-side and kept in the URL
        page.fill("#f-account", "paper-b")
        page.dispatch_event("#f-account", "change")
        expect(page).to_have_url(f"{daemon.api}/logs?account=paper-b")
        expect(page.locator("#rows")).to_have_attribute("data-key", "account=paper-b")
        expect(page.locator(f"#rows .row[data-signal='{filled}']").first).to_be_visible()
        accounts = page.locator("#rows .row:not([hidden]):not(.pending) .c-acc").all_inner_texts()
        assert accounts and set(accounts) == {"paper-b"}

        page.check("#f-problems")
        expect(page).to_have_url(f"{daemon.api}/logs?account=paper-b&problems=1")
        expect(page.locator("#rows")).to_have_attribute("data-key", "account=paper-b&problems=1")
        skipped = _webhook(daemon, {"action": "buy", "symbol": "WIDGETS", "volume": 1})
        skip_row = page.locator(f"#rows .row[data-signal='{skipped}']")
        expect(skip_row).to_have_count(1)
        expect(skip_row.locator(".c-why")).to_contain_text("WIDGETS is not traded on account paper-b")
        assert page.locator(f"#rows .row[data-signal='{filled}']").count() == 0

        # the story of the skipped signal, with the reason in words
        skip_row.click()
        expect(page.locator("#timeline")).to_be_visible()
        expect(page).to_have_url(f"{daemon.api}/logs?account=paper-b&problems=1&signal={skipped}")
        follower = page.locator("#timeline .follower[data-account='paper-a']")
        expect(follower.locator(".why")).to_contain_text("WIDGETS is not traded on account paper-a")
        page.keyboard.press("Escape")
        expect(page.locator("#timeline")).to_be_hidden()

        # back to everything; the filled signal's story: planned → sent → filled with latency bars
        page.click("#clear")
        expect(page).to_have_url(f"{daemon.api}/logs")
        expect(page.locator("#rows")).to_have_attribute("data-key", "")
        page.locator(f"#rows .row[data-signal='{filled}']").first.click()
        timeline = page.locator("#timeline")
        expect(timeline.locator(".follower")).to_have_count(2)
        for account in ("paper-a", "paper-b"):
            card = timeline.locator(f".follower[data-account='{account}']")
            expect(card.locator(".status")).to_have_text("filled")
            steps = card.locator(".tl-steps li").evaluate_all("items => items.map(i => i.dataset.event)")
            assert steps[:3] == ["order_planned", "order_sent", "order_filled"]
            expect(card.locator(".bar.wire .val")).to_contain_text("s")  # µs, ms or s
            expect(card.locator(".bar.ack .val")).to_contain_text("s")
        expect(page.locator("#latency .venue[data-venue='paper'] .p99")).not_to_be_empty()

        # connection health and the kill switch, live
        status, _ = daemon.api_post("/api/v1/kill-switch", {"on": True, "account": "paper-b"})
        assert status == 200
        expect(page.locator(".chip[data-account='paper-b']")).to_have_class("chip killed")
        status, _ = daemon.api_post("/api/v1/kill-switch", {"on": True})
        expect(page.locator("#kill")).to_be_visible()

        target = ROOT / "docs" / "logviewer.png" if os.environ.get("UPDATE_SCREENSHOT") else tmp_path / "shot.png"
        page.screenshot(path=str(target))
        assert target.stat().st_size > 10_000

        # no secret reaches the page: not the keys, not the webhook token, not the session cookie
        html = page.content()
        assert VIEW_KEY not in html and TOKEN not in html and daemon.key not in html
        assert page.evaluate("document.cookie") == ""


def test_a_shared_link_opens_the_same_view_after_login(tmp_path):
    _browser_ready()
    with running_daemon(tmp_path, CONFIG, env=ENV) as daemon, sync_playwright() as pw:
        signal_id = _webhook(daemon, {"action": "sell", "symbol": "XAUUSD", "volume": 0.2})
        page = _open(pw, daemon)
        page.goto(f"{daemon.api}/logs?account=paper-a&event=order_sent&signal={signal_id}")
        _log_in(page, VIEW_KEY)
        expect(page).to_have_url(f"{daemon.api}/logs?account=paper-a&event=order_sent&signal={signal_id}")
        expect(page.locator("#f-account")).to_have_value("paper-a")
        expect(page.locator("#f-event")).to_have_value("order_sent")
        expect(page.locator("#timeline .follower[data-account='paper-a'] .status")).to_have_text("filled")
        expect(page.locator("#rows .row:not([hidden]):not(.pending)")).to_have_count(1)
        expect(page.locator("#rows .row .c-ev")).to_have_text("order_sent")

        page.click("form[action='/logs/logout'] button")
        expect(page.locator("#key")).to_be_visible()
        page.goto(daemon.api + "/logs")
        expect(page.locator("#key")).to_be_visible()
