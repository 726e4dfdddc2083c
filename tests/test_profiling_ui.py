"""The trace view with AutoProfile, in headless Chromium: inferred spans look unlike measured
ones, and flame graphs show the trace's and the process's profiles, fed by a real
``@lambda_handler`` through the real acceptor."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

import instana_serverless as instana
from instana_serverless.acceptor.server import Acceptor
from instana_serverless.aws_lambda import decorator
from instana_serverless.client import get_client
from tests.conftest import AGENT_KEY
from tests.lambda_fixtures import make_context
from tests.test_acceptor_ui import browser as browser  # the shared headless Chromium
from tests.test_acceptor_ui import cards, cell, rows, wait_for
from tests.test_profiling import Truth, parse, slow_part

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOT = ROOT / "out" / "ui" / "profile-view.png"


@pytest.fixture
def viewed() -> Iterator[Acceptor]:
    decorator._reset_for_tests()
    with Acceptor(key=AGENT_KEY, ui=True) as server:
        instana.configure(
            instana.Options(
                endpoint_url=server.url, agent_key=AGENT_KEY, timeout_ms=2000, auto_profile=True
            ),
            environ={},
        )
        try:
            yield server
        finally:
            instana.configure(environ={})
            decorator._reset_for_tests()


def style(driver: WebDriver, element: WebElement, prop: str) -> str:
    return str(driver.execute_script(f"return getComputedStyle(arguments[0]).{prop}", element))


def width(element: WebElement) -> float:
    return float(element.rect["width"])


def test_inferred_spans_and_flame_graphs_in_chromium(browser: WebDriver, viewed: Acceptor) -> None:
    truth: Truth = {}

    @instana.lambda_handler
    def handler(event: Dict[str, Any], context: Any) -> Any:
        with instana.span("measured-step"):
            time.sleep(0.03)
        slow_part(truth)
        parse(truth)
        return None

    @instana.lambda_handler
    def flat(event: Dict[str, Any], context: Any) -> Any:
        time.sleep(0.03)
        return None

    handler({}, make_context(request_id="req-hot"))
    flat({}, make_context(request_id="req-flat"))
    viewed.wait_for_spans(5)
    client = get_client()
    assert client.profiler is not None and client.profiler.send(client)

    browser.get_log("browser")
    browser.get(viewed.url + "/")
    wait_for(
        browser, "five rows", lambda d: len(d.find_elements(By.CSS_SELECTOR, "[data-span-id]")) == 5
    )
    flat_card, hot = cards(browser)  # newest first
    assert len(rows(flat_card)) == 1  # no hot spot: no inferred span
    shown = rows(hot)
    names = [cell(r, "name") for r in shown]
    assert names == [
        "aws.lambda.entry",
        "sdk:measured-step",
        "sdk:tests.test_profiling.slow_part",
        "sdk:tests.test_profiling.parse",
    ]
    inferred: List[bool] = [
        bool(r.find_elements(By.CSS_SELECTOR, ".inferred-badge")) for r in shown
    ]
    assert inferred == [False, False, True, True]
    assert ["inferred" in (r.get_attribute("class") or "").split() for r in shown] == inferred
    measured_bar = shown[1].find_element(By.CSS_SELECTOR, ".bar")
    inferred_bar = shown[2].find_element(By.CSS_SELECTOR, ".bar")
    assert "repeating-linear-gradient" in style(browser, inferred_bar, "backgroundImage")
    assert "gradient" not in style(browser, measured_bar, "backgroundImage")
    assert "dashed" in style(browser, inferred_bar, "outlineStyle")
    assert "inferred from stack samples" in (shown[2].get_attribute("title") or "")
    # inferred and measured siblings sit at the same depth under the entry span
    assert [len(r.find_elements(By.CSS_SELECTOR, ".branch")) for r in shown] == [0, 1, 1, 1]
    # bars are as long as the inferred durations
    spans = {span["s"]: span for span in viewed.spans()}
    entry_bar = shown[0].find_element(By.CSS_SELECTOR, ".bar")
    entry_ms = spans[shown[0].get_attribute("data-span-id")]["d"]
    for row in shown[2:]:
        share = spans[row.get_attribute("data-span-id")]["d"] / entry_ms
        drawn = width(row.find_element(By.CSS_SELECTOR, ".bar")) / width(entry_bar)
        assert abs(drawn - share) < 0.03, (cell(row, "name"), drawn, share)

    # the selected trace's flame graph
    # every sampled trace has a flame graph, shown on request
    assert flat_card.find_elements(By.CSS_SELECTOR, ".flame-toggle")
    assert not hot.find_elements(By.CSS_SELECTOR, ".flame-node")
    hot.find_element(By.CSS_SELECTOR, ".trace-flame .flame-toggle").click()
    nodes = wait_for(
        browser,
        "the trace's flame graph",
        lambda d: cards(d)[1].find_elements(By.CSS_SELECTOR, ".flame-node"),
    )
    by_method = {n.get_attribute("data-method"): n for n in nodes}
    root = next(n for m, n in by_method.items() if m and m.endswith(".handler"))
    slow = by_method["tests.test_profiling.slow_part"]
    parsed = by_method["tests.test_profiling.parse"]
    graph = cards(browser)[1].find_element(By.CSS_SELECTOR, ".flame")
    assert width(root) > 0.95 * width(graph)
    (profile,) = viewed.profiles.snapshot()["traces"][hot.get_attribute("data-trace-id")]
    total = sum(site["measurement"] for site in profile["roots"])
    sites = {site["method_name"]: site for site in profile["roots"][0]["children"]}
    for node in (slow, parsed):
        share = sites[node.get_attribute("data-method")]["measurement"] / total
        assert share > 0.15 and abs(width(node) / width(graph) - share) < 0.02
    # callees sit below their caller, inside its extent
    assert slow.rect["y"] > root.rect["y"] and parsed.rect["y"] == slow.rect["y"]
    assert root.rect["x"] - 1 <= slow.rect["x"] < parsed.rect["x"]
    assert "ms" in (slow.get_attribute("title") or "") and "samples" in (
        slow.get_attribute("title") or ""
    )

    # the process's flame graph
    process = browser.find_element(By.ID, "process-profile")
    assert process.is_displayed()
    process.find_element(By.CSS_SELECTOR, ".flame-toggle").click()
    wait_for(
        browser,
        "the process flame graph",
        lambda d: d.find_elements(By.CSS_SELECTOR, "#process-profile .flame-node"),
    )
    methods = [
        n.get_attribute("data-method")
        for n in browser.find_elements(By.CSS_SELECTOR, "#process-profile .flame-node")
    ]
    assert "tests.test_profiling.slow_part" in methods

    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1440, min(int(height) + 150, 4000))
    assert browser.save_screenshot(str(SCREENSHOT))
