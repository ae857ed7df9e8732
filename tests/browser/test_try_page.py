"""The try-it page in a real browser: Debian's headless Chromium, driven by Playwright,
against `make run`'s program (a subprocess serving HTTP on loopback).

The page is served with its strict Content-Security-Policy, as deployed, so the tests
read it only through locators (Playwright's string evaluation would be refused). The
request limits are small here (16 rows, 1,200 bytes) so that an upload is paged.
Screenshots go to results/browser/.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from infra.local_env import MODEL_BUCKET
from infra.screenshot import chromium
from infra.signing_proxy import Upstream, serve
from tests.helpers import ROOT, WINE_CSV, local_stack, serving
from tests.helpers import LocalStack as Stack

playwright = pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

SHOTS = ROOT / "results" / "browser"
MAX_ROWS = 16
MAX_BYTES = 1200
#: Chromium as root, without the network calls a closed machine refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WINE_FEATURES = WINE_CSV.read_text().splitlines()[0].replace('"', "").split(";")[:-1]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    limits = {"MAX_REQUEST_ROWS": str(MAX_ROWS), "MAX_REQUEST_BYTES": str(MAX_BYTES)}
    options = ["--candidates", "linear", "--monitor-seconds", "1"]
    with local_stack(*options, environment=limits) as started:
        yield started


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = os.environ.get("CHROMIUM") or chromium()
    if executable is None:
        pytest.fail("no Chromium: `make test-browser` installs Debian's chromium package")
    with sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, stack: Stack) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    opened = context.new_page()
    opened.problems = []  # type: ignore[attr-defined]
    opened.on("pageerror", lambda error: opened.problems.append(str(error)))  # type: ignore[attr-defined]
    opened.on(
        "console",
        lambda message: (
            opened.problems.append(message.text)  # type: ignore[attr-defined]
            if message.type == "error" and "status of 422" not in message.text
            else None
        ),
    )
    yield opened
    context.close()


def open_model(page: Page, stack: Stack, model: str | None = None) -> None:
    page.goto(f"{stack.api}/" + (f"#model={model}" if model else ""))
    expect(page.locator("#status")).to_contain_text(f"{model or 'wine-quality'}, version")


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def api_predict(stack: Stack, model: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The API's own answer for ``rows``, asked a few rows at a time (the limits are small)."""
    answer: dict[str, Any] = {"predictions": [], "probabilities": []}
    for start in range(0, len(rows), 4):
        request = urllib.request.Request(
            f"{stack.api}/models/{model}/predict",
            data=json.dumps({"instances": rows[start : start + 4]}).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            page = json.loads(response.read())
        answer["predictions"] += page["predictions"]
        answer["probabilities"] += page.get("probabilities", [])
    return answer


def medians(stack: Stack, model: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{stack.api}/models/{model}/card", timeout=10) as response:
        card = json.loads(response.read())
    return {f["name"]: f["median"] for f in card["features"]}


# ----- one row ---------------------------------------------------------------------------
def test_the_form_predicts_a_row_as_the_api_does(page: Page, stack: Stack) -> None:
    open_model(page, stack)
    page.get_by_role("button", name="Fill in the training medians").click()
    page.get_by_role("button", name="Predict").click()
    expect(page.locator("#prediction")).to_contain_text("quality: ")
    # Every feature has a label a screen reader announces, and the training range.
    for name in WINE_FEATURES:
        field = page.get_by_label(name, exact=True)
        expect(field).to_have_attribute("aria-required", "true")
    expect(page.locator("#feature-10-hint")).to_contain_text("Training data: 8.4 to 14.9")
    page.get_by_label("alcohol", exact=True).fill("12.5")
    page.get_by_label("alcohol", exact=True).press("Enter")  # the keyboard submits
    row = {**medians(stack, "wine-quality"), "alcohol": 12.5}
    expected = api_predict(stack, "wine-quality", [row])["predictions"][0]
    expect(page.locator("#prediction")).to_have_text(f"quality: {expected:.4g}")
    shot(page, "try-page-wine-quality")
    assert page.problems == []  # type: ignore[attr-defined]


def test_page_weight_and_time_to_first_prediction(browser: Browser, stack: Stack) -> None:
    """Recorded in results/browser/timings.json: the page's bytes, and the seconds from
    asking for the page (in a fresh browser context, nothing cached) to a prediction on
    screen, the medians filled in with one click, 7 times."""
    seconds = []
    for _ in range(7):
        context = browser.new_context()
        fresh = context.new_page()
        started = time.monotonic()
        open_model(fresh, stack)
        fresh.get_by_role("button", name="Fill in the training medians").click()
        fresh.get_by_role("button", name="Predict").click()
        expect(fresh.locator("#prediction")).to_contain_text("quality: ")
        seconds.append(time.monotonic() - started)
        context.close()
    weight = page_weight(stack)
    seconds.sort()
    timings = {"first_prediction_s": seconds, "median_s": seconds[3], "page_bytes": weight}
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "timings.json").write_text(json.dumps(timings, indent=1))
    print(f"page {weight['total']} bytes; first prediction {seconds[3]:.2f} s (median of 7)")
    assert weight["total"] < 100_000


def page_weight(stack: Stack) -> dict[str, int]:
    sizes = {}
    for path in ("/", "/assets/try.js", "/assets/try.css"):
        with urllib.request.urlopen(stack.api + path, timeout=10) as response:
            sizes[path] = len(response.read())
            assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    sizes["total"] = sum(sizes.values())
    return sizes


def test_an_api_refusal_is_shown_next_to_its_field(page: Page, stack: Stack) -> None:
    open_model(page, stack)
    page.get_by_role("button", name="Fill in the training medians").click()
    alcohol = page.get_by_label("alcohol", exact=True)
    alcohol.fill("strong")
    page.get_by_label("pH", exact=True).fill("")
    page.get_by_role("button", name="Predict").click()
    expect(page.locator("#feature-10-error")).to_have_text("not a number: 'strong'")
    expect(alcohol).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#feature-8-error")).to_contain_text("missing value")
    # The first field the API named has the focus, and the others carry no error.
    expect(page.locator("#feature-8")).to_be_focused()
    expect(page.locator("#feature-0-error")).to_be_empty()
    expect(page.locator("#prediction")).to_be_empty()
    shot(page, "try-page-refusal")


# ----- many rows ----------------------------------------------------------------------------
#: The lines of the bad rows in the uploaded file, and what the page says of each.
REFUSED_LINES = {
    22: ["alcohol", "not a number: 'strong'"],
    23: ["(row)", "the row has 3 fields; the header has 12"],
    26: [
        "pH",
        "not a number: 'acid'",
        "sulphates",
        "missing value in a column that does not allow one",
    ],
    30: ["(row)", "the line is not UTF-8 text"],
}


def bad_wine_file(path: Path) -> tuple[Path, list[str]]:
    """40 wine rows (semicolons, as the data comes) with the bad rows of REFUSED_LINES:
    a word for alcohol, too few fields, two bad values, a byte that is not UTF-8."""
    lines = WINE_CSV.read_text().splitlines()
    rows = lines[1:41]
    bad = rows[20].split(";")
    bad[10] = "strong"
    rows[20] = ";".join(bad)
    rows[21] = "1;2;3"
    bad = rows[24].split(";")
    bad[8], bad[9] = "acid", ""
    rows[24] = ";".join(bad)
    text = "\n".join([lines[0], *rows]) + "\n"
    # Line 30 gets a Latin-1 byte in its quality column (not a feature).
    path.write_bytes(text.encode().replace(rows[28].encode(), rows[28].encode() + b"\xe9"))
    return path, rows


def test_an_uploaded_csv_is_scored_in_pages_with_its_bad_rows_reported(
    page: Page, stack: Stack, tmp_path: Path
) -> None:
    open_model(page, stack)
    upload, rows = bad_wine_file(tmp_path / "wines.csv")
    posted: list[bytes] = []
    page.on(
        "request",
        lambda request: (
            posted.append(request.post_data_buffer or b"")
            if request.method == "POST" and request.url.endswith("/predict")
            else None
        ),
    )
    page.set_input_files("#csv", str(upload))
    page.get_by_role("button", name="Score the file").click()
    expect(page.locator("#csv-status")).to_contain_text(
        "36 of 40 rows scored, 4 refused (5 problems)"
    )
    refused = page.locator("#refused tbody tr")
    expected_rows = []
    for line, problems in REFUSED_LINES.items():
        for column, reason in itertools.batched(problems, 2, strict=True):
            expected_rows.append(f"{line}{column}{reason}")
    expect(refused).to_have_text(expected_rows)
    expect(page.locator("#scored tbody tr")).to_have_count(36)
    shot(page, "try-page-csv")
    # Paged within the limits: no request over MAX_ROWS rows or MAX_BYTES bytes.
    assert len(posted) >= 3
    for body in posted:
        assert len(body) <= MAX_BYTES
        assert len(body.decode().splitlines()) - 1 <= MAX_ROWS
    with page.expect_download() as download:
        page.locator("#download").click()
    assert download.value.suggested_filename == "wines-scored.csv"
    scored = list(csv.reader(io.StringIO(Path(download.value.path()).read_text()), delimiter=";"))
    assert scored[0][-1] == "prediction"
    good = [r for i, r in enumerate(rows) if i + 2 not in REFUSED_LINES]
    assert [line[:-1] for line in scored[1:]] == [r.split(";") for r in good]
    names = WINE_FEATURES
    instances = [dict(zip(names, map(float, r.split(";")[:11]), strict=True)) for r in good]
    expected = api_predict(stack, "wine-quality", instances)["predictions"]
    assert [float(line[-1]) for line in scored[1:]] == pytest.approx(expected, rel=1e-6)
    assert page.problems == []  # type: ignore[attr-defined]


def test_every_problem_is_listed_even_past_what_one_refusal_lists(
    page: Page, stack: Stack, tmp_path: Path
) -> None:
    """16 rows of 11 bad values each: one page, 176 problems, more than the 100 a 422
    lists; the page sends the rows it was not told all about again."""
    open_model(page, stack)
    lines = WINE_CSV.read_text().splitlines()
    rows = [";".join(["bad"] * 11 + ["5"])] * MAX_ROWS + lines[1:3]
    upload = tmp_path / "all-bad.csv"
    upload.write_text("\n".join([lines[0], *rows]) + "\n")
    page.set_input_files("#csv", str(upload))
    page.get_by_role("button", name="Score the file").click()
    expect(page.locator("#csv-status")).to_contain_text(
        f"2 of {MAX_ROWS + 2} rows scored, {MAX_ROWS} refused ({MAX_ROWS * 11} problems)"
    )
    expect(page.locator("#refused tbody tr")).to_have_count(MAX_ROWS * 11)


def test_choosing_another_model_stops_the_file_being_scored(
    page: Page, stack: Stack, tmp_path: Path
) -> None:
    open_model(page, stack)
    lines = WINE_CSV.read_text().splitlines()
    upload = tmp_path / "many.csv"
    upload.write_text("\n".join(lines[:1] + lines[1:] * 8) + "\n")  # 12,792 rows, 800 pages
    page.set_input_files("#csv", str(upload))
    page.get_by_role("button", name="Score the file").click()
    expect(page.locator("#csv-status")).to_contain_text("rows so far")
    page.get_by_label("Model", exact=True).select_option("digits")
    expect(page.locator("#status")).to_contain_text("digits, version")
    page.wait_for_timeout(1500)
    expect(page.locator("#csv-status")).to_have_text("Scoring stopped: another model was chosen.")
    expect(page.locator("#scored-box")).to_be_hidden()
    expect(page.locator("#score")).not_to_have_attribute("aria-disabled", "true")


def test_a_file_without_the_models_columns_is_refused_whole(
    page: Page, stack: Stack, tmp_path: Path
) -> None:
    open_model(page, stack)
    upload = tmp_path / "other.csv"
    upload.write_text("a,b\n1,2\n")
    page.set_input_files("#csv", str(upload))
    page.get_by_role("button", name="Score the file").click()
    expect(page.locator("#csv-error")).to_contain_text("names none of the model's columns")
    expect(page.locator("#download")).to_be_hidden()


# ----- several models -----------------------------------------------------------------------
def test_switching_models_shows_the_classifiers_card_and_probabilities(
    page: Page, stack: Stack
) -> None:
    open_model(page, stack)
    chooser = page.get_by_label("Model", exact=True)
    expect(chooser.locator("option")).to_have_text(
        ["wine-quality (default)", "digits", "wine-quality-class"]
    )
    chooser.select_option("wine-quality-class")
    expect(page.locator("#status")).to_contain_text("wine-quality-class, version")
    expect(page).to_have_url(f"{stack.api}/#model=wine-quality-class")
    expect(page.locator("#facts")).to_contain_text("quality (classification)")
    expect(page.locator("#metrics tbody tr").first).to_contain_text("accuracy (primary)")
    page.get_by_role("button", name="Fill in the training medians").click()
    page.get_by_role("button", name="Predict").click()
    bars = page.locator("#probabilities li")
    expect(bars).to_have_count(6)  # one per quality class 3..8
    answer = api_predict(stack, "wine-quality-class", [medians(stack, "wine-quality-class")])
    top = max(answer["probabilities"][0].items(), key=lambda item: item[1])
    expect(page.locator("#prediction")).to_have_text(f"quality: {answer['predictions'][0]}")
    expect(bars.first).to_contain_text(f"{top[0]}{top[1] * 100:.1f}%")
    # The links of the model card open the training report.
    page.get_by_role("link", name="Training report").click()
    expect(page).to_have_title(re.compile(r"^Training report: wine-quality-class \d"))
    page.go_back()
    expect(page.locator("#status")).to_contain_text("wine-quality-class, version")
    shot(page, "try-page-classifier")


# ----- drawing ------------------------------------------------------------------------------
#: Strokes of a few digits, in the 256-pixel canvas's coordinates.
DIGIT_STROKES = {
    "0": [[(128, 40), (80, 80), (70, 130), (85, 190), (128, 220), (175, 190), (190, 130),
           (175, 80), (128, 40)]],
    "1": [[(140, 40), (128, 220)], [(110, 70), (140, 40)]],
    "3": [[(80, 50), (128, 35), (175, 60), (170, 100), (120, 125), (175, 150), (180, 195),
           (128, 220), (75, 200)]],
    "7": [[(70, 50), (190, 50), (120, 220)]],
}  # fmt: skip


def draw(page: Page, strokes: list[list[tuple[int, int]]]) -> None:
    box = page.locator("#canvas").bounding_box()
    assert box is not None
    for path in strokes:
        page.mouse.move(box["x"] + path[0][0], box["y"] + path[0][1])
        page.mouse.down()
        for (x0, y0), (x1, y1) in itertools.pairwise(path):
            for step in range(1, 9):
                page.mouse.move(
                    box["x"] + x0 + (x1 - x0) * step / 8, box["y"] + y0 + (y1 - y0) * step / 8
                )
        page.mouse.up()


def test_a_digit_drawn_on_the_canvas_is_read(page: Page, stack: Stack) -> None:
    open_model(page, stack, "digits")
    expect(page.locator("#canvas")).to_be_visible()
    for digit, strokes in DIGIT_STROKES.items():
        page.get_by_role("button", name="Clear the drawing").click()
        expect(page.locator("#feature-0")).to_have_value("0")
        draw(page, strokes)
        expect(page.locator("#prediction")).to_have_text(f"digit: {digit}")
        shot(page, f"try-page-digit-{digit}")
    # The strokes became the 64 pixel values (0 to 16) the form sends.
    values = [int(page.locator(f"#feature-{i}").input_value()) for i in range(64)]
    assert all(0 <= v <= 16 for v in values)
    assert max(values) == 16
    assert page.problems == []  # type: ignore[attr-defined]


def test_the_canvas_can_be_drawn_with_the_keyboard(page: Page, stack: Stack) -> None:
    open_model(page, stack, "digits")
    page.get_by_role("button", name="Clear the drawing").click()
    canvas = page.locator("#canvas")
    canvas.focus()
    for key in ["ArrowRight"] * 3:
        canvas.press(key)
    # A bar two pixels wide down the middle, as the training ones are drawn.
    for step in ["ArrowDown"] * 7 + ["ArrowRight"] + ["ArrowUp"] * 7 + [None]:
        canvas.press(" ")
        if step:
            canvas.press(step)
    expect(page.locator("#prediction")).to_have_text("digit: 1")
    expect(page.locator("#canvas-status")).to_have_text(
        "8 by 8 squares; 16 pixels inked; cursor at row 1, column 5"
    )
    values = [int(page.locator(f"#feature-{i}").input_value()) for i in range(64)]
    assert [i for i, v in enumerate(values) if v] == sorted(
        [r * 8 + c for r in range(8) for c in (3, 4)]
    )


def test_delete_erases_the_ink_of_one_square(page: Page, stack: Stack) -> None:
    open_model(page, stack, "digits")
    draw(page, [[(20, 112), (236, 112)]])  # a bar across row 3 of the drawing
    expect(page.locator("#prediction")).not_to_be_empty()

    def pixel_rows() -> list[list[int]]:
        values = [int(page.locator(f"#feature-{i}").input_value()) for i in range(64)]
        return [values[r * 8 : r * 8 + 8] for r in range(8)]

    before = pixel_rows()
    assert before[3][1:7] == [16] * 6
    canvas = page.locator("#canvas")
    canvas.focus()
    for key in ["ArrowDown"] * 3 + ["ArrowRight"] * 3:
        canvas.press(key)
    canvas.press("Delete")  # the square at row 4, column 4 of the drawing
    expect(page.locator("#canvas-status")).to_contain_text("cursor at row 4, column 4")
    after = pixel_rows()
    # That pixel of what the model sees is cleared, and only that one.
    assert after[3][3] == 0
    after[3][3] = before[3][3]
    assert after == before
    shot(page, "try-page-digit-erased")


# ----- what the page must never do ----------------------------------------------------------
def test_manifest_values_are_shown_as_text_never_as_markup(
    page: Page, stack: Stack, tmp_path: Path
) -> None:
    """A model whose column, category and class names are markup: shown as typed."""
    from predictor.settings import RegistryLocation
    from training.job import TrainingConfig, run_training

    column, category = '<img src=x id="injected">', "<b>bold</b> & co"
    data = tmp_path / "markup.csv"
    lines = [f'"{column.replace(chr(34), chr(34) * 2)}",kind,label']
    for i in range(120):
        lines.append(
            f"{i % 10},{category if i % 2 else 'plain'},{'<i>big</i>' if i % 10 > 4 else 'small'}"
        )
    data.write_text("\n".join(lines) + "\n")
    s3 = boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{stack.s3_port}", region_name="us-east-1"
    )
    run_training(
        TrainingConfig(
            data=str(data),
            target="label",
            name="markup",
            registry=RegistryLocation(MODEL_BUCKET),
            task="classification",
            candidates=("linear",),
            settings_per_candidate=1,
            promote="production",
        ),
        s3,
    )
    open_model(page, stack, "markup")
    expect(page.get_by_label(column, exact=True)).to_be_visible()
    expect(page.get_by_label("kind", exact=True).locator("option")).to_have_text(
        ["Choose...", category, "plain"]
    )
    expect(page.locator("#facts")).to_contain_text("<i>big</i>, small")
    assert page.locator("#injected, main b, main i").count() == 0
    page.get_by_label(column, exact=True).fill("7")
    page.get_by_label("kind", exact=True).select_option(category)
    page.get_by_role("button", name="Predict").click()
    expect(page.locator("#prediction")).to_have_text("label: <i>big</i>")
    assert page.locator("#injected, main b, main i").count() == 0


def test_the_page_loads_nothing_from_other_hosts(page: Page, stack: Stack) -> None:
    hosts = set()
    page.on("request", lambda request: hosts.add(request.url.split("/")[2]))
    open_model(page, stack, "digits")
    open_model(page, stack, "wine-quality-class")
    assert hosts == {stack.api.removeprefix("http://")}


# ----- behind IAM: the signing proxy --------------------------------------------------------
def test_the_page_works_through_the_signing_proxy(page: Page, stack: Stack) -> None:
    """`make proxy` in front of the API: the page and its calls, every one signed."""
    signed: list[str] = []
    upstream = Upstream.from_url(stack.api, "us-east-1", "execute-api")

    def credentials() -> Any:
        from botocore.credentials import ReadOnlyCredentials

        return ReadOnlyCredentials("AKIDLOCAL", "local-secret", None)

    with serving(serve(upstream, 0, credentials, signed.append)) as port:
        page.goto(f"http://127.0.0.1:{port}/#model=wine-quality-class")
        expect(page.locator("#status")).to_contain_text("wine-quality-class, version")
        page.get_by_role("button", name="Fill in the training medians").click()
        page.get_by_role("button", name="Predict").click()
        expect(page.locator("#probabilities li")).to_have_count(6)
    assert any('"POST /models/wine-quality-class/predict' in line for line in signed)
    assert any('"GET /assets/try.js' in line for line in signed)
