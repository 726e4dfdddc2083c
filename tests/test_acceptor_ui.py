"""The acceptor's trace view: the ``/api/traces`` grouping, the routes behind ``--ui``, and the
page itself in headless Chromium, fed by a real ``@lambda_handler`` through the real acceptor."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.options import Options as ChromeOptions
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

import instana_serverless as instana
from instana_serverless.acceptor import ui
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.aws_lambda import decorator
from instana_serverless.instrumentation import uninstrument
from tests.conftest import AGENT_KEY
from tests.lambda_fixtures import load_event, make_context

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = ROOT / "out" / "ui" / "trace-view.png"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARN_ENTITY = "arn:aws:lambda:eu-central-1:123456789012:function:orders:7"


def span(
    t: str,
    s: str,
    ts: int,
    d: float = 1,
    n: str = "x",
    k: int = 1,
    p: Optional[str] = None,
    **more: Any,
) -> Dict[str, Any]:
    out: Dict[str, Any] = {"t": t, "s": s, "ts": ts, "d": d, "n": n, "k": k, "ec": 0, **more}
    if p is not None:
        out["p"] = p
    return out


def hexid(n: int) -> str:
    return f"{n:016x}"


# --- the JSON -------------------------------------------------------------------------------


def test_no_spans_no_traces() -> None:
    assert ui.traces([]) == {
        "traceCount": 0,
        "spanCount": 0,
        "refusedCount": 0,
        "refused": [],
        "traces": [],
    }


def test_spans_are_grouped_by_trace_newest_trace_first() -> None:
    a, b, c = hexid(0xA), hexid(0xB), hexid(0xC)
    spans = [
        span(b, hexid(1), 2000, d=5),
        span(a, hexid(2), 1000, d=50),
        span(c, hexid(3), 3000),
        span(a, hexid(4), 1010, d=20, k=2, p=hexid(2)),  # arrived in a later bundle
    ]
    result = ui.traces(spans)
    assert result["traceCount"] == 3 and result["spanCount"] == 4
    assert [trace["id"] for trace in result["traces"]] == [c, b, a]
    oldest = result["traces"][2]
    assert oldest["start"] == 1000 and oldest["duration"] == 50
    assert [(row["id"], row["depth"], row["kind"]) for row in oldest["spans"]] == [
        (hexid(2), 0, "entry"),
        (hexid(4), 1, "exit"),
    ]
    assert [row["offset"] for row in oldest["spans"]] == [0, 10]


def test_children_depth_first_siblings_by_start_and_duration_to_the_last_end() -> None:
    t = hexid(1)
    spans = [
        span(t, hexid(10), 100, d=10, n="root"),
        span(t, hexid(12), 150, d=100, k=3, n="late", p=hexid(10)),
        span(t, hexid(11), 105, d=3, k=2, n="early", p=hexid(10)),
        span(t, hexid(13), 106, d=1, k=2, n="grandchild", p=hexid(11)),
    ]
    (trace,) = ui.traces(spans)["traces"]
    assert [(row["name"], row["depth"]) for row in trace["spans"]] == [
        ("root", 0),
        ("early", 1),
        ("grandchild", 2),
        ("late", 1),
    ]
    # A child outliving its parent (async work) stretches the trace, not the parent.
    assert trace["duration"] == 150
    assert [row["parent"] for row in trace["spans"]] == [None, hexid(10), hexid(11), hexid(10)]


def test_orphans_are_roots_that_name_their_missing_parent() -> None:
    t = hexid(1)
    spans = [
        span(t, hexid(20), 500, n="lost child", k=2, p=hexid(99)),
        span(t, hexid(21), 400, n="real root"),
        span(t, hexid(22), 450, n="its child", k=3, p=hexid(21)),
    ]
    (trace,) = ui.traces(spans)["traces"]
    rows = {row["name"]: row for row in trace["spans"]}
    assert [row["name"] for row in trace["spans"]] == ["real root", "its child", "lost child"]
    assert rows["lost child"]["orphan"] is True and rows["lost child"]["depth"] == 0
    assert rows["lost child"]["parent"] == hexid(99)
    assert rows["real root"]["orphan"] is False and rows["its child"]["orphan"] is False


def test_row_fields_service_trigger_errors_and_data() -> None:
    t = hexid(1)
    entry_data = {
        "lambda": {"functionName": "orders", "trigger": "aws:api.gateway", "error": "boom"},
        "http": {"method": "POST", "url": "/pay"},
    }
    azure = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Web/sites/shop-app"
    spans = [
        span(t, hexid(1), 100, d=9, n="aws.lambda.entry", f={"e": ARN_ENTITY}, data=entry_data),
        span(t, hexid(2), 101, k=3, n="sdk", p=hexid(1), ec=2, data={"sdk": {"name": "work"}}),
        span(t, hexid(3), 102, k=2, n="urllib3", p=hexid(2), data={"http": {"method": "GET"}}),
        span(
            hexid(2), hexid(4), 50, n="azf", f={"e": azure}, data={"azf": {"triggername": "http"}}
        ),
        span(hexid(3), hexid(5), 40, n="wsgi", f={"e": "gcp:cloud-run:revision:shop-00042"}),
        span(hexid(4), hexid(6), 30, n="gcps", data={"lambda": {"functionName": "named-by-data"}}),
    ]
    result = ui.traces(spans)["traces"]
    rows = [row for trace in result for row in trace["spans"]]
    by_id = {row["id"]: row for row in rows}
    entry, sdk, exit_ = by_id[hexid(1)], by_id[hexid(2)], by_id[hexid(3)]
    assert entry["service"] == "orders:7" and entry["entity"] == ARN_ENTITY
    assert entry["trigger"] == "aws:api.gateway POST /pay"
    assert entry["data"] == entry_data and entry["ts"] == 100 and entry["duration"] == 9
    # children without an entity belong to their parent's service
    assert sdk["service"] == exit_["service"] == "orders:7" and sdk["entity"] is None
    assert sdk["name"] == "sdk:work" and sdk["kind"] == "intermediate" and sdk["errors"] == 2
    assert exit_["kind"] == "exit" and exit_["trigger"] == "GET" and exit_["data"]
    assert by_id[hexid(4)]["service"] == "shop-app" and by_id[hexid(4)]["trigger"] == "http"
    assert by_id[hexid(5)]["service"] == "shop-00042" and by_id[hexid(5)]["data"] == {}
    assert by_id[hexid(6)]["service"] == "named-by-data"
    failing = next(trace for trace in result if trace["id"] == t)
    assert failing["errors"] == 2


def test_only_the_newest_traces_are_listed() -> None:
    spans = [span(hexid(i + 1), hexid(i + 1), 1000 + i) for i in range(5)]
    result = ui.traces(spans, limit=2)
    assert result["traceCount"] == 5 and result["spanCount"] == 5
    assert [trace["id"] for trace in result["traces"]] == [hexid(5), hexid(4)]


# --- the routes -----------------------------------------------------------------------------


def get(url: str) -> Tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def post_bundle(acceptor: Acceptor, bundle: Dict[str, Any]) -> None:
    request = urllib.request.Request(
        acceptor.url + "/bundle",
        data=json.dumps(bundle).encode(),
        headers={"Content-Type": "application/json", "X-Instana-Key": AGENT_KEY},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 204


def test_without_ui_the_view_is_not_served() -> None:
    with Acceptor() as server:
        for path in ("/", "/ui", "/ui/app.js", "/api/traces"):
            assert get(server.url + path)[0] == 404, path


def test_ui_serves_page_assets_and_traces_json() -> None:
    with Acceptor(key=AGENT_KEY, ui=True) as server:
        status, content_type, page = get(server.url + "/")
        assert status == 200 and content_type.startswith("text/html")
        assert '<script src="/ui/app.js"' in page and "Content-Security-Policy" in page
        assert get(server.url + "/ui")[2] == page
        status, content_type, script = get(server.url + "/ui/app.js")
        assert status == 200 and content_type.startswith("text/javascript")
        assert "innerHTML" not in script.replace("never through innerHTML", "")
        assert get(server.url + "/ui/style.css")[1].startswith("text/css")
        missing = ["/ui/../server.py", "/ui/ui.py", "/ui/index.html/", "/api/traces/x"]
        for path in missing:
            assert get(server.url + path)[0] == 404, path

        status, content_type, body = get(server.url + "/api/traces")
        assert (status, content_type) == (200, "application/json")
        assert json.loads(body) == {
            "traceCount": 0,
            "spanCount": 0,
            "refusedCount": 0,
            "refused": [],
            "traces": [],
        }
        post_bundle(server, {"spans": [span(hexid(7), hexid(8), 1234, n="job")]})
        traces = json.loads(get(server.url + "/api/traces")[2])
        assert traces["traceCount"] == 1 and traces["traces"][0]["spans"][0]["name"] == "job"
        # the view's own requests are not mixed into the log of what clients sent
        assert [r["path"] for r in server.requests] == [*missing, "/bundle"]


def test_cli_flag_prints_the_view_url_and_serves_it(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "instana_serverless.acceptor", "--ui", "--port", "0"]
    command += ["--output", str(tmp_path / "bundles.jsonl"), "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert process.stdout is not None
        listening = process.stdout.readline()
        view = process.stdout.readline().strip()
        assert listening.startswith("acceptor listening on http://127.0.0.1:")
        assert view.startswith("trace view at http://127.0.0.1:") and view.endswith("/")
        url = view.split(" at ", 1)[1]
        assert get(url)[0] == 200 and json.loads(get(url + "api/traces")[2])["traces"] == []
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


# --- the page in Chromium -------------------------------------------------------------------


def _chromium_missing() -> Optional[str]:
    """Installs Debian's chromium and chromium-driver when missing; the reason if it cannot."""
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return None
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return "chromium is not installed and cannot be: apt-get as root is needed"
    install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium", "chromium-driver"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

    def run(argv: List[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900)

    result = run(install)
    if result.returncode != 0:  # a fresh image has no package lists yet
        run(["apt-get", "update"])
        result = run(install)
    if result.returncode != 0 or not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        return f"apt-get install chromium failed: {(result.stderr or result.stdout)[-500:]}"
    return None


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    missing = _chromium_missing()
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    options = ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1440,1000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def viewed() -> Iterator[Acceptor]:
    """An acceptor with the trace view, and the client reporting to it."""
    decorator._reset_for_tests()
    with Acceptor(key=AGENT_KEY, ui=True) as server:
        instana.configure(
            instana.Options(endpoint_url=server.url, agent_key=AGENT_KEY, timeout_ms=2000),
            environ={},
        )
        try:
            yield server
        finally:
            instana.configure(environ={})
            uninstrument()
            decorator._reset_for_tests()


def orders_handler(downstream: str) -> Callable[[Dict[str, Any], Any], Any]:
    @instana.lambda_handler
    def handler(event: Dict[str, Any], context: Any) -> Any:
        with instana.span("load-order", tags={"order": 42}):
            time.sleep(0.03)
            requests.get(downstream, timeout=5)  # an exit span
        time.sleep(0.01)
        if event.get("httpMethod") == "POST":
            raise ValueError("payment declined")
        return {"statusCode": 200, "headers": {"Content-Type": "text/plain"}, "body": "ok"}

    return handler


def new_trace_event(method: str, path: str) -> Dict[str, Any]:
    event: Dict[str, Any] = load_event("api_gateway_rest")
    for key in ("headers", "multiValueHeaders"):
        event[key] = {k: v for k, v in event[key].items() if not k.lower().startswith("x-instana")}
    event["httpMethod"], event["path"] = method, path
    return event


def wait_for(driver: WebDriver, what: str, condition: Callable[[WebDriver], Any]) -> Any:
    return WebDriverWait(driver, 10, poll_frequency=0.1).until(condition, f"timed out: {what}")


def cards(driver: WebDriver) -> List[WebElement]:
    return driver.find_elements(By.CSS_SELECTOR, "#traces > section.trace")


def rows(card: WebElement) -> List[WebElement]:
    return card.find_elements(By.CSS_SELECTOR, ".span-row[data-span-id]")


def cell(row: WebElement, column: str) -> str:
    selector = ".span-name" if column == "name" else f".col-{column}"
    return str(row.find_element(By.CSS_SELECTOR, selector).text)


def extent(element: WebElement) -> Tuple[float, float]:
    rect = element.rect
    return float(rect["x"]), float(rect["x"] + rect["width"])


def check_waterfall(card: WebElement, method: str, path: str) -> None:
    shown = rows(card)
    assert [cell(r, "name") for r in shown] == ["aws.lambda.entry", "sdk:load-order", "urllib3"]
    assert [cell(r, "kind") for r in shown] == ["entry", "intermediate", "exit"]
    assert [cell(r, "service") for r in shown] == ["orders:7"] * 3
    assert cell(shown[0], "trigger") == f"aws:api.gateway {method} {path}"
    assert cell(shown[2], "trigger").startswith("GET http://127.0.0.1:")
    # children are indented under their parent
    assert [len(r.find_elements(By.CSS_SELECTOR, ".branch")) for r in shown] == [0, 1, 1]
    name_x = [r.find_element(By.CSS_SELECTOR, ".span-name").rect["x"] for r in shown]
    assert name_x[0] < name_x[1] < name_x[2]
    track = shown[0].find_element(By.CSS_SELECTOR, ".track")
    entry, sdk, exit_ = (extent(r.find_element(By.CSS_SELECTOR, ".bar")) for r in shown)
    slack = 0.03 * track.rect["width"]  # whole milliseconds on the wire
    assert entry[1] - entry[0] > 0.9 * track.rect["width"]
    assert sdk[1] - sdk[0] > 0.4 * track.rect["width"]
    assert exit_[1] - exit_[0] > 0
    assert entry[0] - slack <= sdk[0] <= exit_[0] and exit_[1] <= sdk[1] + slack
    assert sdk[1] <= entry[1] + slack


def test_trace_view_in_chromium(browser: WebDriver, viewed: Acceptor) -> None:
    handler = orders_handler(viewed.url + "/health")
    handler(load_event("api_gateway_rest"), make_context(request_id="req-ok"))
    with pytest.raises(ValueError):
        handler(new_trace_event("POST", "/orders/13/pay"), make_context(request_id="req-fail"))
    spans = viewed.wait_for_spans(6)

    browser.get_log("browser")  # drop what earlier pages logged
    browser.get(viewed.url + "/")
    wait_for(
        browser,
        "six span rows",
        lambda d: len(d.find_elements(By.CSS_SELECTOR, "[data-span-id]")) == 6,
    )
    failing, ok = cards(browser)  # newest first
    check_waterfall(ok, "GET", "/orders/42")
    check_waterfall(failing, "POST", "/orders/13/pay")
    assert ok.get_attribute("data-trace-id") == "0000000000001234"
    # the incoming trace context's parent span is not among the received ones
    assert [len(r.find_elements(By.CSS_SELECTOR, ".continued")) for r in rows(ok)] == [1, 0, 0]
    assert not failing.find_elements(By.CSS_SELECTOR, ".continued")
    assert not ok.find_elements(By.CSS_SELECTOR, ".error-marker, .error-badge")
    assert "failed" in (failing.get_attribute("class") or "").split()
    assert failing.find_element(By.CSS_SELECTOR, ".error-badge").text == "1 error"
    entry_row = rows(failing)[0]
    (marker,) = failing.find_elements(By.CSS_SELECTOR, ".error-marker")
    assert marker.find_element(By.XPATH, "ancestor::div[@data-span-id]") == entry_row
    # the trace head summarizes its root
    head = failing.find_element(By.CSS_SELECTOR, ".trace-head").text
    assert "aws.lambda.entry" in head and "aws:api.gateway POST /orders/13/pay" in head

    # hovering tells what a click does; a click shows the span's data
    ActionChains(browser).move_to_element(entry_row).perform()
    assert "click to show its data" in (entry_row.get_attribute("title") or "")
    entry_row.click()
    detail = failing.find_element(By.CSS_SELECTOR, ".span-row[data-span-id] + .detail")
    entry = next(s for s in spans if s["s"] == entry_row.get_attribute("data-span-id"))
    shown = json.loads(
        detail.find_element(By.CSS_SELECTOR, ".data-json").get_property("textContent")
    )
    assert shown == entry["data"] and shown["lambda"]["error"] == "ValueError: payment declined"
    assert entry["t"] in detail.find_element(By.CSS_SELECTOR, ".facts").text
    assert entry_row.get_attribute("aria-expanded") == "true"

    # a refused bundle: the view says how many and why
    assert browser.find_element(By.ID, "refused").is_displayed() is False
    refused = requests.post(
        viewed.url + "/bundle", data=b"{}", headers={"X-Instana-Key": "wrong"}, timeout=5
    )
    assert refused.status_code == 401
    banner = wait_for(
        browser, "the refusal banner", lambda d: d.find_element(By.ID, "refused").is_displayed()
    )
    assert banner
    text = browser.find_element(By.ID, "refused").text
    assert "1 request refused" in text and "HTTP 401: missing or wrong X-Instana-Key" in text
    assert f"127.0.0.1:{viewed.port}" in text

    # a bundle sent after the page loaded shows up without a reload
    browser.execute_script("window.notReloaded = true;")
    handler(load_event("sqs"), make_context(request_id="req-sqs"))
    wait_for(browser, "a third trace", lambda d: len(cards(d)) == 3)
    assert browser.execute_script("return window.notReloaded") is True
    newest = cards(browser)[0]
    assert cell(rows(newest)[0], "trigger") == "aws:sqs"
    # the open detail survived the redraw
    assert cards(browser)[1].find_elements(By.CSS_SELECTOR, ".detail .data-json")
    assert "3 traces · 9 spans" in browser.find_element(By.ID, "status").text

    # no script error, no blocked resource, no Content-Security-Policy violation
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1440, min(int(height) + 150, 4000))  # the whole page
    assert browser.save_screenshot(str(SCREENSHOT))


def test_page_shows_span_text_as_text_and_tells_when_the_acceptor_is_gone(
    browser: WebDriver,
) -> None:
    hostile = '<img src=x onerror="window.pwned=1">'
    with Acceptor(key=AGENT_KEY, ui=True) as server:
        browser.get(server.url + "/")
        wait_for(
            browser, "the empty state", lambda d: d.find_element(By.ID, "empty").is_displayed()
        )
        assert "0 traces" in browser.find_element(By.ID, "status").text

        data = {"sdk": {"name": hostile}, "note": "</pre><script>window.pwned=2</script>"}
        post_bundle(
            server, {"spans": [span(hexid(5), hexid(6), 1_700_000_000_000, n=hostile, data=data)]}
        )
        row = wait_for(
            browser, "the row", lambda d: d.find_element(By.CSS_SELECTOR, "[data-span-id]")
        )
        assert not browser.find_element(By.ID, "empty").is_displayed()
        assert cell(row, "name") == hostile
        row.click()
        text = browser.find_element(By.CSS_SELECTOR, ".data-json").get_property("textContent")
        assert json.loads(text) == data
        assert not browser.find_elements(By.CSS_SELECTOR, "#traces img, #traces script")
        assert browser.execute_script("return window.pwned") is None

    wait_for(
        browser,
        "the unreachable status",
        lambda d: "down" in (d.find_element(By.ID, "status").get_attribute("class") or ""),
    )
    assert "unreachable" in browser.find_element(By.ID, "status").text


def test_refused_bundles_are_counted_with_their_reasons_in_the_traces_json() -> None:
    with Acceptor(key=AGENT_KEY, ui=True) as server:
        for key, body in (("wrong", b"{}"), ("wrong", b"{}"), (AGENT_KEY, b"{not json")):
            requests.post(
                server.url + "/bundle", data=body, headers={"X-Instana-Key": key}, timeout=5
            )
        traces = json.loads(get(server.url + "/api/traces")[2])
    assert traces["refusedCount"] == 3
    reasons = {(r["status"], r["reason"]): r["count"] for r in traces["refused"]}
    assert reasons[(401, "missing or wrong X-Instana-Key")] == 2
    ((status, reason),) = [k for k in reasons if k[0] == 400]
    assert reason.startswith("invalid JSON") and reasons[(status, reason)] == 1
    assert {r["host"] for r in traces["refused"]} == {f"127.0.0.1:{server.port}"}
