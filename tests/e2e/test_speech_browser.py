"""The speech form in a real browser (Debian's chromium through playwright): type a
text, submit, watch the job page follow the job to its end, then play what it
says: the player loads the audio (from S3, as the CSP allows) and the waveform
the server drew is shown under it."""

import re

import pytest
from playwright.sync_api import expect

from tests.support.browser import signed_in_page
from tests.support.http import get_job


@pytest.mark.browser
def test_a_user_speaks_a_text_and_plays_it_on_the_job_page(platform, browser):
    page = signed_in_page(browser, platform)
    page.goto(f"{platform}/speech")
    page.fill("#text", "Hello there. This is genq speaking. Goodbye!")
    page.fill("#seed", "5")
    page.click("#speech-form button[type=submit]")

    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    expect(page.locator("#status")).to_have_text("succeeded", timeout=60_000)
    expect(page.locator("#progress-text")).to_have_text("step 3 of 3")
    player = page.locator("figure.artifact-audio audio")
    expect(player).to_have_count(1)
    # The browser decoded the file's header: the player knows how long it is.
    page.wait_for_function("() => document.querySelector('figure.artifact-audio audio').readyState >= 1")
    duration = player.evaluate("audio => audio.duration")
    [artifact] = get_job(platform, page.url.rsplit("/", 1)[1])["artifacts"]
    assert duration == pytest.approx(artifact["duration_seconds"], abs=0.01)
    page.wait_for_function("() => document.querySelector('img.waveform').complete")
    assert page.locator("img.waveform").evaluate("img => img.naturalWidth") == 640
