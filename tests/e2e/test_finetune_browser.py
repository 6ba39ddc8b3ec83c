"""Fine-tuning in a real browser against a real worker: upload images on /finetune,
watch the loss curve fill in on the job's page until the validation images show,
then pick the new adapter on /adapters and generate an image with it."""

import re

import pytest
from playwright.sync_api import expect

from tests.support.browser import signed_in_page
from tests.support.training import training_pngs

TRAIN_STEPS = 30


@pytest.mark.browser
def test_a_user_trains_an_adapter_and_generates_with_it(platform, browser, tmp_path):
    images = []
    for index, png in enumerate(training_pngs(4)):
        images.append(tmp_path / f"toy-{index}.png")
        images[-1].write_bytes(png)
    page = signed_in_page(browser, platform)

    page.goto(f"{platform}/finetune")
    page.set_input_files("#files", [str(path) for path in images])
    page.fill("#instance_prompt", "a photo of sks toy")
    page.fill("#validation_prompt", "sks toy on a table")
    page.fill("#adapter_name", "browser toy")
    for name, value in {"resolution": "64", "max_train_steps": str(TRAIN_STEPS), "batch_size": "2"}.items():
        page.fill(f"#{name}", value)
    page.click("#finetune-form button[type=submit]")

    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    expect(page.locator("#status")).to_have_text("succeeded", timeout=180_000)
    # The validation images (4 by default) and the weights as a download.
    expect(page.locator("img.artifact")).to_have_count(4)
    expect(page.locator("a[data-kind=adapter]")).to_have_count(1)
    # job.js reloaded the server-drawn chart as loss events came in; the last one has every step.
    chart = page.locator("#loss-chart")
    expect(chart).to_have_attribute("src", re.compile(r"loss\.svg\?v=\d+$"))
    expect(page.locator("#latest-loss")).to_have_text(re.compile(r"^\d"))
    svg = page.request.get(chart.get_attribute("src")).text()
    points = re.search(r'<polyline id="loss-line" points="([^"]*)"', svg).group(1).split()
    assert len(points) == TRAIN_STEPS
    assert chart.evaluate("img => img.complete && img.naturalWidth") == 640

    page.goto(f"{platform}/adapters")
    row = page.locator("tr.adapter", has_text="browser toy")
    row.locator("a.generate-with").click()

    expect(page).to_have_url(re.compile(r"/\?adapter=[0-9a-f-]{36}$"))
    adapter_id = page.url.rsplit("=", 1)[1]
    expect(page.locator("#adapter")).to_have_value(adapter_id)
    page.fill("#prompt", "sks toy in the snow")
    page.fill("#seed", "5")
    page.fill("#steps", "4")
    page.fill("#adapter_scale", "0.8")
    page.click("#submit-form button[type=submit]")

    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    expect(page.locator("img.artifact")).to_have_count(1, timeout=60_000)
    expect(page.locator("#status")).to_have_text("succeeded")
