"""The whole training lifecycle in a real browser, against a real Celery worker: upload a
dataset and read its report, start a job and watch it progress live, cancel one, promote
and roll back a version, and classify texts with it.

Screenshots go to $TESSERA_SCREENSHOT_DIR when set (to review the design), else a tmp dir.
"""

import re

import pytest
from django.conf import settings

from tests.apps.training.data import labelled_csv
from tests.factories.accounts import MembershipFactory, OrganizationFactory, UserFactory
from tests.workers import WorkerProcess, purge_broker

pytestmark = [pytest.mark.browser, pytest.mark.celery, pytest.mark.django_db(transaction=True)]

QUEUES = "default,training.cpu,webhooks"
PASSWORD = "gradient descent all the way down"
# Training on a shared CPU: loading the base model and a few epochs take a while.
JOB_TIMEOUT_MS = 150_000


@pytest.fixture(autouse=True)
def _artifact_root(settings, tmp_path):
    # The live server (this process) and the worker process must see the same folders.
    settings.ARTIFACT_STORAGE = "filesystem"
    settings.ARTIFACT_ROOT = tmp_path / "artifacts"
    settings.ARTIFACT_CACHE_DIR = tmp_path / "cache"


@pytest.fixture
def browser_page(browser_context):
    page = browser_context.new_page()
    page.set_default_timeout(20_000)
    # Every data-confirm form asks through window.confirm: accept them all.
    page.on("dialog", lambda dialog: dialog.accept())
    return page


@pytest.fixture
def expect():
    return pytest.importorskip("playwright.sync_api").expect


@pytest.fixture
def worker():
    purge_broker()
    process = WorkerProcess(
        queues=QUEUES,
        name="browser-training",
        env={
            "ARTIFACT_ROOT": str(settings.ARTIFACT_ROOT),
            "ARTIFACT_CACHE_DIR": str(settings.ARTIFACT_CACHE_DIR),
            "TRAINING_HEARTBEAT_SECONDS": "1",
        },
    ).start()
    try:
        yield process
    finally:
        process.stop()


def _start_job(page, base: str, *, strategy: str, epochs: str = "", learning_rate: str = "") -> str:
    page.goto(base + "training/")
    page.get_by_label("Model name").fill("support-intent")
    page.get_by_label("Training dataset").select_option(label="bank-intents (Labelled texts)")
    page.get_by_label("Strategy").select_option(strategy)
    page.get_by_label("Epochs").fill(epochs)
    page.get_by_label("Learning rate").fill(learning_rate)
    page.get_by_test_id("training-job-submit").click()
    page.wait_for_url(re.compile(re.escape(base) + r"training/[0-9a-f-]{36}/$"))
    # Marks this document: if the page reloaded instead of htmx swapping, the mark is gone.
    page.evaluate("window.__notReloaded = true")
    return page.url


def _row(page, version: str):
    """The models table row of one version, by its link text (notes may name other versions)."""
    link = page.get_by_role("link", name=version, exact=True)
    return page.get_by_test_id("model-version-row").filter(has=link)


def _status(page, expect, text: str, timeout: int = JOB_TIMEOUT_MS, worker=None) -> None:
    try:
        expect(page.get_by_test_id("training-job-status")).to_have_text(text, timeout=timeout)
    except AssertionError as error:
        log = worker.output[-4000:] if worker else ""
        raise AssertionError(f"{error}\n--- worker log ---\n{log}") from None


def test_upload_train_cancel_promote_roll_back_and_predict(
    live_server, browser_page, screenshot_dir, expect, tmp_path, worker
):
    page = browser_page
    organization = OrganizationFactory(name="Harbor Bank")
    user = UserFactory(email="ada@harbor.example", full_name="Ada Lovelace", password=PASSWORD)
    MembershipFactory(organization=organization, user=user, role="owner")
    base = f"{live_server.url}/o/{organization.slug}/"

    # Log in through the form.
    page.goto(live_server.url + "/login/")
    page.get_by_label("Email").fill("ada@harbor.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(base)

    # Upload a dataset: its page opens with the report.
    good = tmp_path / "bank-intents.csv"
    good.write_bytes(labelled_csv())
    page.get_by_test_id("nav-datasets").click()
    page.wait_for_url(base + "datasets/")
    page.get_by_label("Name").fill("bank-intents")
    page.get_by_label("Kind").select_option("labelled_texts")
    page.get_by_label("File", exact=True).set_input_files(str(good))
    page.get_by_test_id("dataset-upload-submit").click()
    page.wait_for_url(re.compile(re.escape(base) + r"datasets/[0-9a-f-]{36}/$"))
    dataset_title = page.get_by_test_id("dataset-title").inner_text()
    report_rows = page.get_by_test_id("report-rows").inner_text()
    label_count = page.get_by_test_id("report-label-count").inner_text()
    label_chart_svgs = page.get_by_test_id("dataset-label-chart").locator("svg").count()
    label_chart_text = page.get_by_test_id("dataset-label-chart").inner_text()
    page.screenshot(path=str(screenshot_dir / "training-dataset-report.png"), full_page=True)

    # A file without a label column is refused, with the reason.
    bad = tmp_path / "only-texts.csv"
    bad.write_text("text\nI lost my card\nWhen do you open?\n")
    page.goto(base + "datasets/")
    page.get_by_label("Name").fill("broken")
    page.get_by_label("Kind").select_option("labelled_texts")
    page.get_by_label("File", exact=True).set_input_files(str(bad))
    page.get_by_test_id("dataset-upload-submit").click()
    page.get_by_test_id("dataset-refusal").wait_for()
    refusal_message = page.get_by_test_id("dataset-refusal-message").inner_text()
    refusal_reasons = page.get_by_test_id("dataset-refusal-reason").all_inner_texts()
    page.screenshot(path=str(screenshot_dir / "training-dataset-refused.png"), full_page=True)
    dataset_names = page.get_by_test_id("dataset-name").all_inner_texts()

    # Job 1 (head): watch it progress to the end without a reload.
    _start_job(page, base, strategy="head")
    _status(page, expect, "Succeeded", worker=worker)
    first_not_reloaded = page.evaluate("window.__notReloaded === true")
    first_progress = page.get_by_test_id("training-progress").get_attribute("aria-valuenow")
    first_live_text = page.get_by_test_id("training-job-live").inner_text()
    page.get_by_test_id("training-curves").wait_for()
    curve_svgs = page.get_by_test_id("training-curves").locator("svg").count()
    first_version_note = page.get_by_test_id("training-job-version").inner_text()
    first_cancel_buttons = page.get_by_test_id("training-job-cancel").count()
    page.get_by_test_id("training-curves").screenshot(path=str(screenshot_dir / "training-job-curves.png"))
    page.screenshot(path=str(screenshot_dir / "training-job-succeeded.png"), full_page=True)

    # Job 2 (LoRA, long): cancel it while it runs.
    _start_job(page, base, strategy="lora", epochs="60")
    _status(page, expect, "Running", worker=worker)
    page.screenshot(path=str(screenshot_dir / "training-job-running.png"), full_page=True)
    with page.expect_navigation():
        page.get_by_test_id("training-job-cancel").click()
    cancel_flash = page.get_by_test_id("flash-success").inner_text()
    _status(page, expect, "Cancelled", timeout=60_000, worker=worker)
    expect(page.get_by_test_id("training-job-cancel")).to_have_count(0)
    page.screenshot(path=str(screenshot_dir / "training-job-cancelled.png"), full_page=True)

    # Job 3 (head, barely trained): does not beat v1 on the holdout, so it waits for review.
    _start_job(page, base, strategy="head", epochs="1", learning_rate="0.000001")
    _status(page, expect, "Succeeded", worker=worker)
    third_version_note = page.get_by_test_id("training-job-version").inner_text()

    page.goto(base + "training/")
    job_statuses = page.get_by_test_id("training-job-status").all_inner_texts()
    page.screenshot(path=str(screenshot_dir / "training-jobs.png"), full_page=True)

    # Models: promote v2, then roll back to v1.
    page.get_by_test_id("nav-models").click()
    page.wait_for_url(base + "models/")
    rows = page.get_by_test_id("model-version-row")
    versions_before = rows.locator("a.cell-strong").all_inner_texts()
    active_before = page.locator("[data-testid=model-version-row]:has([data-testid=model-version-active])")
    active_before_text = active_before.locator("a.cell-strong").inner_text()
    page.screenshot(path=str(screenshot_dir / "training-models.png"), full_page=True)

    with page.expect_navigation():
        _row(page, "v2").get_by_test_id("model-version-promote").click()
    promote_flash = page.get_by_test_id("flash-success").inner_text()
    active_after_promote = active_before.locator("a.cell-strong").inner_text()

    with page.expect_navigation():
        page.get_by_test_id("model-rollback").click()
    rollback_flash = page.get_by_test_id("flash-success").inner_text()
    active_after_rollback = active_before.locator("a.cell-strong").inner_text()
    page.screenshot(path=str(screenshot_dir / "training-models-rolled-back.png"), full_page=True)

    # Try v1: two texts, two predictions.
    _row(page, "v1").locator("a.cell-strong").click()
    page.get_by_test_id("model-version-try").wait_for()
    version_active_badge = page.get_by_test_id("model-version-active").count()
    page.get_by_label("Texts").fill("I lost my card on the bus\nAre you open on Saturday?")
    page.get_by_test_id("model-version-predict").click()
    page.get_by_test_id("prediction-row").first.wait_for(timeout=60_000)
    prediction_rows = page.get_by_test_id("prediction-row")
    predictions = [
        (row.locator("td").first.inner_text(), row.locator(".cell-strong").inner_text())
        for row in prediction_rows.all()
    ]
    page.screenshot(path=str(screenshot_dir / "training-model-version-predict.png"), full_page=True)

    assert dataset_title == "bank-intents"
    assert report_rows == "36"
    assert label_count == "3"
    assert label_chart_svgs == 1
    assert "card_lost" in label_chart_text and "opening_hours" in label_chart_text
    assert refusal_message.startswith("The file was not stored")
    assert any("'label' is missing" in reason for reason in refusal_reasons), refusal_reasons
    assert dataset_names == ["bank-intents"]  # nothing stored for the refused file

    assert first_not_reloaded, "the job page reloaded instead of updating through htmx"
    assert first_progress == "100"
    assert "100%" in first_live_text
    assert curve_svgs >= 1
    assert "support-intent v1" in first_version_note
    assert first_cancel_buttons == 0  # the header's Cancel went away with the same htmx swap
    assert "Cancelling" in cancel_flash or "Cancelled" in cancel_flash
    assert "support-intent v2" in third_version_note and "Waiting for review" in third_version_note
    assert job_statuses == ["Succeeded", "Cancelled", "Succeeded"]

    assert versions_before == ["v2", "v1"]
    assert active_before_text == "v1"
    assert "support-intent v2 is now active" in promote_flash
    assert active_after_promote == "v2"
    assert "Rolled back" in rollback_flash
    assert active_after_rollback == "v1"

    assert version_active_badge == 1
    assert predictions == [
        ("I lost my card on the bus", "card_lost"),
        ("Are you open on Saturday?", "opening_hours"),
    ]
