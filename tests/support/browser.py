"""Debian's chromium driven by playwright (never a downloaded browser build), and
signing a page in with the e2e platform's key."""

import re

from playwright.sync_api import expect

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # the suite runs as root
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def signed_in_page(browser, platform):
    page = browser.new_page()
    page.goto(f"{platform}/")
    expect(page).to_have_url(re.compile(r"/signin\?next="))
    page.fill("#key", platform.key)
    page.click("#signin-form button[type=submit]")
    expect(page).to_have_url(f"{platform}/")
    expect(page.locator("#signed-in-owner")).to_have_text("e2e")
    return page
