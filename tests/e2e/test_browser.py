"""The web form in a real browser (Debian's chromium through playwright): sign in
with a key, type a prompt, submit, land on the job page, watch it finish and
show the image."""

import re

import pytest
from playwright.sync_api import expect

from tests.support.browser import signed_in_page


def submit_form(page, **fields: str) -> None:
    page.select_option("#model", "tiny-sd")
    for name, value in fields.items():
        page.fill(f"#{name}", value)
    page.click("#submit-form button[type=submit]")


@pytest.mark.browser
def test_a_user_submits_the_form_and_sees_the_image(platform, browser, tmp_path):
    page = signed_in_page(browser, platform)

    submit_form(page, prompt="a lighthouse at dusk", width="64", height="64", steps="8", seed="31337")

    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    expect(page.locator("img.artifact")).to_have_count(1, timeout=60_000)
    expect(page.locator("#status")).to_have_text("succeeded")
    expect(page.locator("#progress")).to_have_attribute("value", "8")
    expect(page.locator("[data-seed]")).to_have_attribute("data-seed", "31337")
    natural_width = page.locator("img.artifact").evaluate("img => img.complete && img.naturalWidth")
    assert natural_width == 64
    page.screenshot(path=tmp_path / "job-page.png", full_page=True)
    assert (tmp_path / "job-page.png").stat().st_size > 0


@pytest.mark.browser
def test_a_user_cancels_a_running_job_from_its_page(platform, browser):
    page = signed_in_page(browser, platform)
    submit_form(page, prompt="a very long exposure", width="256", height="256", steps="150")

    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    # The page follows the job's event stream: running, then progress.
    expect(page.locator("#job")).to_have_attribute("data-status", "running", timeout=60_000)
    expect(page.locator("#progress-text")).to_have_text(re.compile(r"step [1-9]\d* of 150"))
    # A preview of the image as it denoises, at its size (256, the most a preview has).
    preview = page.locator("#previews img[data-index='0']")
    expect(preview).to_be_visible(timeout=30_000)
    expect(preview).to_have_attribute("src", re.compile(r"^data:image/webp;base64,"))
    page.wait_for_function(
        "() => { const img = document.querySelector('#previews img'); return img.complete && img.naturalWidth === 256; }"
    )
    page.click("#cancel")

    expect(page.locator("#status")).to_have_text("canceled", timeout=30_000)
    expect(page.locator("#cancel-form")).to_be_hidden()
    expect(page.locator("#previews")).to_be_hidden()
    expect(page.locator("img.artifact")).to_have_count(0)
    assert int(page.locator("#progress").get_attribute("value")) < 150
