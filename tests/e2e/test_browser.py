"""The web form in a real browser (Debian's chromium through playwright): type a
prompt, submit, land on the job page, watch it finish and show the image."""

import re

import pytest
from playwright.sync_api import expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # the suite runs as root
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.mark.browser
def test_a_user_submits_the_form_and_sees_the_image(platform, browser, tmp_path):
    page = browser.new_page()
    page.goto(f"{platform}/")
    page.fill("#prompt", "a lighthouse at dusk")
    page.fill("#width", "64")
    page.fill("#height", "64")
    page.fill("#steps", "8")
    page.fill("#seed", "31337")
    page.select_option("#model", "tiny-sd")
    page.click("button[type=submit]")

    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    expect(page.locator("img.artifact")).to_have_count(1, timeout=60_000)
    expect(page.locator("#status")).to_have_text("succeeded")
    expect(page.locator("#progress")).to_have_attribute("value", "8")
    expect(page.locator("[data-seed]")).to_have_attribute("data-seed", "31337")
    natural_width = page.locator("img.artifact").evaluate("img => img.complete && img.naturalWidth")
    assert natural_width == 64
    page.screenshot(path=tmp_path / "job-page.png", full_page=True)
    assert (tmp_path / "job-page.png").stat().st_size > 0
