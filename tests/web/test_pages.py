"""The pages, driven in real headless Chromium (Debian's chromium through Playwright), on a
desktop and on a phone-sized screen, with axe-core checking each page's accessibility."""

import csv
import io
import re
import shutil
import time
import uuid

import numpy as np
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect, sync_playwright
from werkzeug.test import Client

from modelserve.datasets import read_csv
from modelserve.evaluation import calibration, classify, evaluate
from modelserve.runtime import load_runtime
from modelserve.settings import Settings, demo_bundle_path
from modelserve.web.app import create_app
from tests.conftest import Cli
from tests.support.metrics import logged_rows, samples, wait_until_logged

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
DESKTOP, PHONE = 1280, 390
ROW = "6,148,72,35,0,33.6,0.627,50"


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def new_page(browser, width: int):
    # axe is injected as a script, which the pages' Content-Security-Policy would refuse.
    context = browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)
    return context, context.new_page()


@pytest.fixture(params=[DESKTOP, PHONE], ids=["desktop", "phone"])
def page(request, browser):
    context, page = new_page(browser, request.param)
    yield page
    context.close()


@pytest.fixture
def desktop(browser):
    context, page = new_page(browser, DESKTOP)
    yield page
    context.close()


@pytest.fixture(scope="module")
def demo(web_store, pima_csv):
    """The demo model, its data and what it predicts for each row."""
    bundle = web_store.bundle("diabetes")
    path = bundle.dataset_path() or pima_csv
    dataset = read_csv(path)
    probabilities = load_runtime(bundle).predict(dataset.features).reshape(-1)
    return bundle, dataset, probabilities


def check_accessible(page):
    """No axe-core violation (contrast, labels, names, structure), nothing wider than the
    screen, and chart labels at least 11 px tall."""
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()
    width = page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    heights = page.evaluate(
        "[...document.querySelectorAll('svg text')].map(t => t.getBoundingClientRect().height)"
    )
    assert min(heights, default=20) >= 11


def predict_model_data(page, url: str):
    page.goto(f"{url}/predictions")
    page.get_by_role("button", name="Predict these rows").click()
    page.wait_for_url(re.compile(r"/results/[\w-]+$"))


def test_welcome_page_names_the_current_model(server, page):
    page.goto(server.url)
    expect(page.locator("#current-model")).to_have_text("diabetes version 1")
    for link in ("Predictions", "Accuracy", "Models"):
        expect(page.get_by_role("main").get_by_role("link", name=link, exact=True)).to_be_visible()
    check_accessible(page)
    page.get_by_role("navigation").get_by_role("link", name="Models").click()
    expect(page).to_have_url(f"{server.url}/models")


def test_results_of_the_models_data_summarised_paged_filtered_and_downloaded(server, page, demo):
    bundle, dataset, probabilities = demo
    predicted = classify(probabilities, 0.5)
    wrong = np.flatnonzero(predicted != dataset.labels)
    predict_model_data(page, server.url)
    expect(page.locator("#row-count")).to_have_text(str(len(dataset)))
    expect(page.locator("#positive-count")).to_contain_text(f"{predicted.sum()} (")
    metrics = evaluate(dataset.labels, probabilities, 0.5)
    expect(page.locator("#accuracy-value")).to_have_text(f"{metrics.accuracy:.4f}")
    expect(page.locator("#wrong-count")).to_have_text(str(len(wrong)))

    rows = page.locator("#prediction-table tbody tr")
    expect(rows).to_have_count(50)
    first = rows.first.locator("td")
    expect(first).to_have_text(
        ["1", str(dataset.labels[0]), str(predicted[0]), f"{probabilities[0]:.4f}", re.compile(".")]
    )
    pages = -(-len(dataset) // 50)
    expect(page.get_by_role("navigation", name="Pages of rows")).to_contain_text(
        f"Page 1 of {pages}"
    )
    check_accessible(page)

    page.get_by_role("link", name="Next").click()
    expect(page.locator("#prediction-table caption")).to_have_text(f"Rows 51–100 of {len(dataset)}")
    expect(rows.first.locator("td").first).to_have_text("51")

    page.locator("#wrong-only").click()
    expect(page.locator("#prediction-table caption")).to_contain_text(
        f"of {len(wrong)} predicted wrong"
    )
    # Wrong rows say so in words, not by colour alone.
    expect(rows.locator("td:last-child")).to_have_text(["wrong"] * min(50, len(wrong)))
    expect(rows.first.locator("td").first).to_have_text(str(wrong[0] + 1))

    href = page.get_by_role("link", name=re.compile("Download all")).get_attribute("href")
    download = page.request.get(f"{server.url}{href}")
    assert download.headers["content-disposition"].endswith('-predictions.csv"')
    table = list(csv.DictReader(io.StringIO(download.text())))
    assert len(table) == len(dataset)
    got = np.array([float(r["probability"]) for r in table])
    assert np.allclose(got, probabilities, atol=1e-6)
    assert [int(r["label"]) for r in table] == dataset.labels.tolist()
    assert float(table[0][dataset.feature_names[1]]) == pytest.approx(dataset.features[0, 1])


def test_result_charts_show_the_model(server, page, demo):
    bundle, dataset, probabilities = demo
    predict_model_data(page, server.url)
    bars = page.locator("#probability-histogram rect")
    per_class = [
        np.histogram(probabilities[dataset.labels == c], np.linspace(0, 1, 21))[0] for c in (0, 1)
    ]
    expect(bars).to_have_count(int(sum((counts > 0).sum() for counts in per_class)))
    expect(page.locator("#probability-histogram line.threshold")).to_have_count(1)
    expect(page.locator("#roc-curve figcaption")).to_contain_text(
        f"area {evaluate(dataset.labels, probabilities, 0.5).roc_auc:.3f}"
    )
    expect(page.locator("#precision-recall-curve polyline")).to_have_count(1)
    filled = len(calibration(dataset.labels, probabilities)[0])
    expect(page.locator("#calibration-plot circle")).to_have_count(filled)
    (tn, fp), (fn, tp) = evaluate(dataset.labels, probabilities, 0.5).confusion_matrix
    expect(page.locator("#confusion-matrix td")).to_have_text(
        ["", str(tn), str(fp), str(fn), str(tp)]
    )


def test_an_uploaded_csv_and_a_typed_row(server, page, tmp_path, demo):
    bundle, dataset, probabilities = demo
    upload = tmp_path / "three.csv"
    upload.write_text("\n".join(",".join(f"{v:g}" for v in row) for row in dataset.features[:3]))
    page.goto(f"{server.url}/predictions")
    page.get_by_label("CSV file", exact=True).set_input_files(upload)
    page.get_by_role("button", name="Predict the file").click()
    expect(page.locator("#result-source")).to_contain_text("3 rows from three.csv")
    cells = page.locator("#prediction-table tbody tr td:last-child")
    expect(cells).to_have_text([f"{p:.4f}" for p in probabilities[:3]])
    expect(page.locator("thead")).not_to_contain_text("True")

    page.goto(f"{server.url}/predictions")
    row = page.get_by_label("Feature values, separated by commas")
    expect(row).to_have_attribute("placeholder", ",".join(f"{v:g}" for v in dataset.features[0]))
    row.fill(ROW)
    page.get_by_role("button", name="Predict the row").click()
    expect(page.locator("#prediction-table tbody tr")).to_have_count(1)
    expect(cells.first).to_have_text(f"{probabilities[0]:.4f}")


def test_a_bad_upload_names_its_line_beside_the_field(server, page, tmp_path):
    upload = tmp_path / "bad.csv"
    upload.write_text("6,148,72,35,0,33.6,0.627,50\n1,85,66,29,0,26.6,oops,31\n")
    page.goto(f"{server.url}/predictions")
    page.get_by_label("CSV file", exact=True).set_input_files(upload)
    with page.expect_response(re.compile(r"/predictions/upload")) as response:
        page.get_by_role("button", name="Predict the file").click()
    assert response.value.status == 400
    message = "bad.csv line 2, column 7 (diabetes_pedigree): 'oops' is not a number"
    expect(page.get_by_role("alert")).to_have_text(message)
    field = page.get_by_label("CSV file", exact=True)
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_accessible_description(re.compile(re.escape(message)))
    check_accessible(page)


def test_every_other_state_of_the_pages_is_accessible(server, page):
    predict_model_data(page, server.url)
    result = page.url
    states = [
        (f"{result}?show=wrong", 200),
        (f"{result}?page=2", 200),
        (f"{server.url}/predictions?model=diabetes:1", 200),
        (f"{server.url}/accuracy?model=diabetes:1", 200),
        (f"{server.url}/predictions?model=nosuch", 404),
    ]
    for url, status in states:
        assert page.goto(url).status == status
        check_accessible(page)
    page.goto(f"{server.url}/predictions")
    page.get_by_label("Feature values, separated by commas").fill("1,2,3")
    page.get_by_role("button", name="Predict the row").click()
    expect(page.get_by_role("alert")).to_have_text("row: expected 8 numbers, found 3")
    check_accessible(page)


def test_the_accuracy_page_says_what_it_measures(server, page, demo):
    bundle, dataset, probabilities = demo
    record = bundle.metadata.dataset
    holdout = np.asarray(record.holdout)
    page.goto(f"{server.url}/accuracy")
    on_holdout = evaluate(dataset.labels[holdout], probabilities[holdout], 0.5)
    on_all = evaluate(dataset.labels, probabilities, 0.5)
    expect(page.locator("#measured-holdout h2")).to_have_text(f"The {len(holdout)} held-out rows")
    expect(page.locator("#measured-holdout")).to_contain_text("never saw in training")
    expect(page.locator("#accuracy-holdout")).to_have_text(f"{on_holdout.accuracy:.4f}")
    expect(page.locator("#measured-all h2")).to_have_text(f"All {len(dataset)} rows")
    expect(page.locator("#measured-all")).to_contain_text(
        f"including the {bundle.metadata.training.rows} it was trained on"
    )
    expect(page.locator("#accuracy-all")).to_have_text(f"{on_all.accuracy:.4f}")
    (tn, fp), (fn, tp) = on_holdout.confusion_matrix
    expect(page.locator("#confusion-matrix-holdout td")).to_have_text(
        ["", str(tn), str(fp), str(fn), str(tp)]
    )
    check_accessible(page)


def test_accuracy_on_an_uploaded_labelled_csv(server, desktop, tmp_path, demo):
    bundle, dataset, probabilities = demo
    labelled = tmp_path / "labelled.csv"
    rows = np.column_stack([dataset.features[:50], dataset.labels[:50]])
    labelled.write_text("\n".join(",".join(f"{v:g}" for v in row) for row in rows))
    desktop.goto(f"{server.url}/accuracy")
    desktop.get_by_label("Labelled CSV file", exact=True).set_input_files(labelled)
    desktop.get_by_role("button", name="Evaluate the file").click()
    subset = evaluate(dataset.labels[:50], probabilities[:50], 0.5)
    expect(desktop.locator("#accuracy-value")).to_have_text(f"{subset.accuracy:.4f}")
    expect(desktop.locator("#result-source")).to_contain_text("50 rows from labelled.csv")


# -- in production: the prediction log, feedback, live accuracy and drift -----------------

GLUCOSE, DRIFT = 1, 60.0  # glucose raised by far more than its spread in the training data


@pytest.fixture
def fresh_model(web_store) -> str:
    """The demo model under a name of its own: what the log holds of it is this test's doing."""
    name = f"live-{uuid.uuid4().hex[:8]}"
    web_store.promote(name, web_store.add(demo_bundle_path(), name).version, reason="for a test")
    return name


def send_labels(page, path):
    """Uploads a feedback CSV from the open /accuracy page; returns the post's answer. A
    prediction is written to the log within a quarter second of its answer and refused as
    unknown (404) until then: that answer alone is tried again, up to a deadline."""
    deadline = time.monotonic() + 10
    while True:
        page.get_by_label("Feedback CSV file").set_input_files(path)
        with page.expect_response(re.compile(r"/accuracy/feedback")) as answer:
            page.get_by_role("button", name="Record the labels").click()
        if answer.value.status != 404 or time.monotonic() > deadline:
            return answer.value
        expect(page.locator("#feedback-error")).to_be_visible()  # the page that refused it


def test_a_row_predicted_on_the_page_labelled_and_measured_in_production(
    server, page, http, tmp_path, demo, fresh_model
):
    bundle, dataset, probabilities = demo
    name = fresh_model
    page.goto(f"{server.url}/accuracy?model={name}")
    expect(page.locator("#production-heading")).to_have_text("In production (last 1d)")
    expect(page.locator("#production-empty")).to_contain_text(f"POST /v2/models/{name}/feedback")

    # Served traffic whose glucose has moved: every third row of the data, raised.
    moved = dataset.features[::3].copy()
    moved[:, GLUCOSE] += DRIFT
    before = sum(logged_rows(samples(server.url)).values())
    shape, data = list(moved.shape), moved.ravel().tolist()
    body = {"inputs": [{"name": "features", "shape": shape, "datatype": "FP32", "data": data}]}
    infer = http.post(f"{server.url}/v2/models/{name}/infer", json=body)
    assert infer.status_code == 200, infer.text

    page.goto(f"{server.url}/predictions?model={name}")
    page.get_by_label("Feature values, separated by commas").fill(ROW)
    with page.expect_response(re.compile(r"/predictions/row")) as answer:
        page.get_by_role("button", name="Predict the row").click()
    key = answer.value.headers["x-request-id"]
    expect(page.locator("#request-id")).to_have_text(key)

    # The result's own CSV, its label filled in, is the feedback file.
    href = page.get_by_role("link", name=re.compile("Download all")).get_attribute("href")
    table = list(csv.DictReader(io.StringIO(page.request.get(f"{server.url}{href}").text())))
    assert [(r["request_id"], r["row"], r["label"]) for r in table] == [(key, "0", "")]
    table[0]["label"] = str(dataset.labels[0])  # ROW is the data's first row
    labels = tmp_path / "labels.csv"
    with labels.open("w", newline="") as out:
        writer = csv.DictWriter(out, table[0])
        writer.writeheader()
        writer.writerows(table)

    wait_until_logged(server.url, before + len(moved))  # drift needs the moved rows
    page.goto(f"{server.url}/accuracy?model={name}")
    assert send_labels(page, labels).status == 303
    expect(page.locator("#feedback-recorded")).to_have_text("1 label recorded.")
    live = evaluate(dataset.labels[:1], probabilities[:1], 0.5)
    figures = [f"{live.accuracy:.4f}", f"{live.precision:.4f}", f"{live.recall:.4f}", "—"]
    expect(page.locator("#production-versions tbody tr").locator("th, td")).to_have_text(
        ["1", str(len(moved) + 1), "1", *figures]
    )
    expect(page.locator("#live-accuracy")).to_have_text(figures[0])
    point = page.locator("#live-accuracy-chart circle")
    expect(point).to_have_count(1)
    expect(point).to_contain_text(f"accuracy {figures[0]} on 1 labelled row")
    expect(page.locator("#live-accuracy-chart figcaption")).to_contain_text("version 1")
    expect(page.locator("#drift-summary")).to_have_text("Drifted features: glucose")
    expect(page.locator("#drift-table tr.drifted")).to_contain_text("glucose")
    check_accessible(page)


def test_a_label_for_an_unknown_request_is_refused_beside_the_form(server, desktop, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("request_id,label\nnever-served,1\n")
    desktop.goto(f"{server.url}/accuracy")
    desktop.get_by_label("Feedback CSV file").set_input_files(labels)
    with desktop.expect_response(re.compile(r"/accuracy/feedback")) as answer:
        desktop.get_by_role("button", name="Record the labels").click()
    assert answer.value.status == 404
    message = "no logged prediction of diabetes has request never-served"
    expect(desktop.get_by_role("alert")).to_contain_text(message)
    field = desktop.get_by_label("Feedback CSV file")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_accessible_description(re.compile(re.escape(message)))
    expect(desktop.locator("#feedback-recorded")).to_have_count(0)


def test_without_its_database_the_accuracy_page_keeps_the_dataset_figures(
    demo_store, pima_csv, tmp_path
):
    # A folder where the database file should be: SQLite cannot open it.
    settings = Settings(store=demo_store.root, data=pima_csv, database_url=f"sqlite:///{tmp_path}")
    client = Client(create_app(settings))
    page = client.get("/accuracy")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="accuracy-holdout"' in text
    assert "No figures from production: the prediction log&#39;s database cannot be reached" in text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', text).group(1)
    refused = client.post(
        "/accuracy/feedback?model=diabetes",
        data={
            "csrf_token": token,
            "labels_file": (io.BytesIO(b"request_id,label\nr1,1\n"), "l.csv"),
        },
    )
    assert refused.status_code == 503 and refused.headers["Retry-After"]
    assert 'id="feedback-error"' in refused.get_data(as_text=True)


def test_models_page_lists_versions_metrics_and_history(server, page, web_store):
    page.goto(f"{server.url}/models")
    current = page.locator("#model-diabetes tr.current td")
    expect(current.first).to_have_text("1")
    accuracy = web_store.bundle("diabetes").metadata.evaluation.metrics.accuracy
    expect(current.nth(4)).to_have_text(f"{accuracy:.4f}")
    expect(page.locator(".history tbody tr").first).to_contain_text("demo bundle installed")
    expect(page.locator("#model-diabetes #accuracy-over-versions circle").first).to_have_text(
        f"version 1: claimed by the bundle {accuracy:.4f}"
    )
    check_accessible(page)


def test_an_upload_above_the_row_limit_is_413(server, desktop, tmp_path):
    upload = tmp_path / "many.csv"
    upload.write_text(f"{ROW}\n" * 1001)  # the test server allows 1000
    desktop.goto(f"{server.url}/predictions")
    desktop.get_by_label("CSV file", exact=True).set_input_files(upload)
    with desktop.expect_response(re.compile(r"/predictions/upload")) as response:
        desktop.get_by_role("button", name="Predict the file").click()
    assert response.value.status == 413
    expect(desktop.get_by_role("alert")).to_have_text(
        "many.csv: 1001 rows exceed the limit of 1000"
    )


def test_an_unknown_model_or_result_is_a_404_page(server, http):
    missing = http.get(f"{server.url}/predictions", params={"model": "nosuch"})
    assert missing.status_code == 404 and "no model &#39;nosuch&#39;" in missing.text
    odd = http.get(f"{server.url}/predictions", params={"model": "diabetes:²"})
    assert odd.status_code == 404 and "positive integer" in odd.text
    gone = http.get(f"{server.url}/results/{'x' * 22}")
    assert gone.status_code == 404 and "kept for an hour" in gone.text


def test_forms_refuse_cross_site_posts_and_large_uploads(server, http):
    forged = http.post(f"{server.url}/predictions/data", data={"model": "diabetes"})
    assert forged.status_code == 400 and "form expired" in forged.text
    page = http.get(f"{server.url}/predictions").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    large = http.post(
        f"{server.url}/predictions/upload",
        data={"csrf_token": token},
        files={"csv_file": ("big.csv", b"1,2,3,4,5,6,7,8\n" * 20000)},
    )
    assert large.status_code == 413


# -- a model of its own: 30 features, named in a header ----------------------------------


@pytest.fixture(scope="module")
def cancer(web_store, tmp_path_factory):
    """A breast-cancer classifier trained by ``modelserve train`` on a CSV with a header."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    names = [n.replace(" ", "_") for n in data.feature_names]
    folder = tmp_path_factory.mktemp("cancer")
    path = folder / "cancer.csv"
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow([*names, "label"])
        writer.writerows(
            [*map(float, x), int(y)] for x, y in zip(data.data, data.target, strict=True)
        )
    trained = Cli(web_store.root)(
        "train", "--data", str(path), "--model", "cancer", "--epochs", "30"
    )
    assert trained.returncode == 0, trained.stderr
    return path, names, data, folder


@pytest.mark.train
def test_a_model_with_its_own_columns_in_another_order(server, page, web_store, cancer):
    path, names, data, folder = cancer
    runtime = load_runtime(web_store.bundle("cancer"))
    expected = runtime.predict(data.data[:20].astype(np.float32)).reshape(-1)
    order = np.random.default_rng(3).permutation(len(names))
    shuffled = folder / "shuffled.csv"
    with shuffled.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["patient_id", *(names[i] for i in order)])
        writer.writerows([f"p{r}", *data.data[r, order]] for r in range(20))

    page.goto(f"{server.url}/predictions?model=cancer")
    expect(page.locator(".lead")).to_contain_text("reads 30 numbers")
    page.get_by_label("CSV file", exact=True).set_input_files(shuffled)
    page.get_by_role("button", name="Predict the file").click()
    expect(page.locator("#result-source")).to_contain_text(
        "Columns the model does not use were ignored: patient_id"
    )
    cells = page.locator("#prediction-table tbody tr td:last-child")
    expect(cells).to_have_text([f"{p:.4f}" for p in expected])
    check_accessible(page)

    page.goto(f"{server.url}/accuracy?model=cancer")
    record = web_store.bundle("cancer").metadata.dataset
    expect(page.locator("#measured-holdout h2")).to_have_text(
        f"The {len(record.holdout)} held-out rows"
    )
    expect(page.get_by_label("Model")).to_have_value("cancer")
    check_accessible(page)


@pytest.mark.train
def test_a_missing_column_is_named(server, desktop, cancer):
    path, names, data, folder = cancer
    partial = folder / "partial.csv"
    partial.write_text(",".join(names[1:]) + "\n" + ",".join("1" for _ in names[1:]) + "\n")
    desktop.goto(f"{server.url}/predictions?model=cancer")
    desktop.get_by_label("CSV file", exact=True).set_input_files(partial)
    desktop.get_by_role("button", name="Predict the file").click()
    expect(desktop.get_by_role("alert")).to_contain_text(f"missing columns: {names[0]}")
