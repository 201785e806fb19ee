"""The pages, driven in real headless Chromium (Debian's chromium through Playwright)."""

import re
import shutil

import numpy as np
import pytest
from playwright.sync_api import expect, sync_playwright

from modelserve.datasets import read_csv
from modelserve.evaluation import evaluate
from modelserve.runtime import load_runtime

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without these, Chromium on a closed network keeps trying to reach Google's services.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="module")
def dataset_predictions(web_store, pima_csv):
    dataset = read_csv(pima_csv)
    return dataset, load_runtime(web_store.bundle("diabetes")).predict(dataset.features)


def test_welcome_page_names_the_current_model(server, page):
    page.goto(server.url)
    expect(page.locator("#current-model")).to_have_text("diabetes version 1")
    for link in ("Predictions", "Accuracy", "Models"):
        expect(page.get_by_role("main").get_by_role("link", name=link, exact=True)).to_be_visible()
    page.get_by_role("navigation").get_by_role("link", name="Models").click()
    expect(page).to_have_url(f"{server.url}/models")


def test_predictions_over_the_configured_dataset(server, page, dataset_predictions):
    dataset, probabilities = dataset_predictions
    page.goto(f"{server.url}/predictions")
    page.get_by_role("button", name="Predict").click()
    rows = page.locator("#prediction-table tbody tr")
    expect(rows).to_have_count(765)
    first = rows.first.locator("td")
    expect(first.nth(1)).to_have_text(str(dataset.labels[0]))  # True
    expect(first.nth(2)).to_have_text(str(int(probabilities[0, 0] > 0.5)))  # Predicted
    expect(first.nth(3)).to_have_text(f"{probabilities[0, 0]:.4f}")
    expect(page.locator("#probability-chart rect")).to_have_count(765)
    expect(page.locator("thead")).to_contain_text("True")


def test_predictions_over_an_uploaded_csv_and_a_typed_row(
    server, page, tmp_path, dataset_predictions
):
    dataset, probabilities = dataset_predictions
    upload = tmp_path / "three.csv"
    upload.write_text("\n".join(",".join(f"{v:g}" for v in row) for row in dataset.features[:3]))
    page.goto(f"{server.url}/predictions")
    page.get_by_label("An uploaded CSV file").check()
    page.locator("input[type=file]").set_input_files(upload)
    page.get_by_role("button", name="Predict").click()
    expect(page.locator("#results h2")).to_contain_text("3 rows from three.csv")
    cells = page.locator("#prediction-table tbody tr td:last-child")
    expect(cells).to_have_text([f"{p:.4f}" for p in probabilities[:3, 0]])
    expect(page.locator("thead")).not_to_contain_text("True")

    page.get_by_label("One row typed in").check()
    page.get_by_label("Row (comma-separated features)").fill("6,148,72,35,0,33.6,0.627,50")
    page.get_by_role("button", name="Predict").click()
    expect(page.locator("#prediction-table tbody tr")).to_have_count(1)
    expect(cells.first).to_have_text(f"{probabilities[0, 0]:.4f}")


def upload_for_predictions(server, page, upload) -> int:
    """Submit ``upload`` on /predictions; the response's status."""
    page.goto(f"{server.url}/predictions")
    page.get_by_label("An uploaded CSV file").check()
    page.locator("input[type=file]").set_input_files(upload)
    with page.expect_response(re.compile(r"/predictions$")) as response:
        page.get_by_role("button", name="Predict").click()
    return response.value.status


def test_a_bad_upload_names_its_line(server, page, tmp_path):
    upload = tmp_path / "bad.csv"
    upload.write_text("6,148,72,35,0,33.6,0.627,50\n1,85,66,29,0,26.6,oops,31\n")
    assert upload_for_predictions(server, page, upload) == 400
    expect(page.get_by_role("alert")).to_have_text(
        "bad.csv line 2, column 7 (diabetes_pedigree): 'oops' is not a number"
    )


def test_accuracy_on_the_dataset_and_on_an_upload(server, page, tmp_path, dataset_predictions):
    dataset, probabilities = dataset_predictions
    metrics = evaluate(dataset.labels, probabilities, 0.5)
    page.goto(f"{server.url}/accuracy")
    page.get_by_role("button", name="Evaluate").click()
    expect(page.locator("#accuracy-value")).to_have_text(f"{metrics.accuracy:.4f}")
    (tn, fp), (fn, tp) = metrics.confusion_matrix
    expect(page.locator("#confusion-matrix td")).to_have_text([str(tn), str(fp), str(fn), str(tp)])
    expect(page.locator("#metrics-chart rect")).to_have_count(5)

    labelled = tmp_path / "labelled.csv"
    rows = np.column_stack([dataset.features[:50], dataset.labels[:50]])
    labelled.write_text("\n".join(",".join(f"{v:g}" for v in row) for row in rows))
    page.get_by_label("An uploaded labelled CSV file").check()
    page.locator("input[type=file]").set_input_files(labelled)
    page.get_by_role("button", name="Evaluate").click()
    subset = evaluate(dataset.labels[:50], probabilities[:50], 0.5)
    expect(page.locator("#accuracy-value")).to_have_text(f"{subset.accuracy:.4f}")
    expect(page.locator("#results h2")).to_contain_text("on 50 rows from labelled.csv")


def test_models_page_lists_versions_metrics_and_history(server, page, web_store):
    page.goto(f"{server.url}/models")
    current = page.locator("#model-diabetes tr.current td")
    expect(current.first).to_have_text("1")
    accuracy = web_store.bundle("diabetes").metadata.evaluation.metrics.accuracy
    expect(current.nth(4)).to_have_text(f"{accuracy:.4f}")
    expect(page.locator(".history tbody tr").first).to_contain_text("demo bundle installed")


def test_an_upload_above_the_row_limit_is_413(server, page, tmp_path):
    upload = tmp_path / "many.csv"
    upload.write_text("6,148,72,35,0,33.6,0.627,50\n" * 1001)  # the test server allows 1000
    assert upload_for_predictions(server, page, upload) == 413
    expect(page.get_by_role("alert")).to_have_text("many.csv: 1001 rows exceed the limit of 1000")


def test_forms_refuse_cross_site_posts_and_large_uploads(server, http):
    forged = http.post(f"{server.url}/predictions", data={"source": "dataset"})
    assert forged.status_code == 400 and "form expired" in forged.text
    page = http.get(f"{server.url}/predictions").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    large = http.post(
        f"{server.url}/predictions",
        data={"source": "upload", "csrf_token": token},
        files={"csv_file": ("big.csv", b"1,2,3,4,5,6,7,8\n" * 20000)},
    )
    assert large.status_code == 413
