"""The layer: its handler redirect, the zip build and the SAM template."""

from __future__ import annotations

import importlib
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any, Iterator

import pytest

from demo.lambda_runtime import ROOT
from instana_serverless.aws_lambda import decorator
from tests.lambda_fixtures import assert_layer_handler_runs, load_event, make_context
from tests.modules import load_script

layer_build = load_script("instana_lambda_layer_build", ROOT / "lambda_layer" / "build.py")

# The budget grew from 300 KB with AutoProfile, the Lambda extension and a dozen library
# instrumentations, then to 640 KiB with Kafka, RabbitMQ, gRPC, Cloud Storage, GraphQL and the
# web frameworks (29 rows), span filters and the SSM key; the official sensor's layer is
# 2.09 MB. Lazily imported, so size is not cold-start time (bench/lambda_.py measures that).
MAX_LAYER_BYTES = 640 * 1024


@pytest.fixture
def app_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    package = tmp_path / "shop" / "api"
    package.mkdir(parents=True)
    (tmp_path / "shop" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "orders.py").write_text(
        "LOADS = []\nLOADS.append(1)\nNOT_CALLABLE = 5\n"
        "def handler(event, context):\n"
        "    return {'statusCode': 200, 'headers': {}, 'loads': len(LOADS)}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [m for m in sys.modules if m == "shop" or m.startswith("shop.")]:
        del sys.modules[name]


def import_layer(monkeypatch: pytest.MonkeyPatch, spec: Any) -> Any:
    if spec is None:
        monkeypatch.delenv("LAMBDA_HANDLER", raising=False)
    else:
        monkeypatch.setenv("LAMBDA_HANDLER", spec)
    sys.modules.pop("instana_serverless.lambda_layer", None)
    try:
        return importlib.import_module("instana_serverless.lambda_layer")
    finally:
        sys.modules.pop("instana_serverless.lambda_layer", None)


@pytest.mark.parametrize("spec", ["shop.api.orders.handler", "shop/api/orders.handler"])
def test_layer_handler_traces_the_original(
    acceptor: Any, client: Any, app_module: Path, monkeypatch: pytest.MonkeyPatch, spec: str
) -> None:
    decorator._reset_for_tests()
    layer = import_layer(monkeypatch, spec)
    assert layer.handler.__name__ == "handler"
    first = layer.handler(load_event("api_gateway_rest"), make_context())
    second = layer.handler(load_event("api_gateway_rest"), make_context())
    # Loaded once at import (init), not per invocation.
    assert first["loads"] == second["loads"] == 1
    assert "Server-Timing" in first["headers"]
    spans = acceptor.spans()
    assert [s["data"]["lambda"]["trigger"] for s in spans] == ["aws:api.gateway"] * 2


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (None, "LAMBDA_HANDLER is not set"),
        ("   ", "LAMBDA_HANDLER is not set"),
        ("handler", "is not of the form 'module.function'"),
        ("shop.api.orders.", "is not of the form 'module.function'"),
        ("shop.api.missing.handler", "cannot import module 'shop.api.missing'"),
        ("shop.api.orders.nothing", "module 'shop.api.orders' has no 'nothing'"),
        ("shop.api.orders.NOT_CALLABLE", "is not callable"),
        ("instana_serverless.lambda_layer.handler", "names this layer's own handler"),
    ],
)
def test_wrong_lambda_handler_is_a_clear_import_error(
    app_module: Path, monkeypatch: pytest.MonkeyPatch, spec: Any, message: str
) -> None:
    with pytest.raises(ImportError) as caught:
        import_layer(monkeypatch, spec)
    assert type(caught.value).__name__ == "HandlerLoadError"
    assert "LAMBDA_HANDLER" in str(caught.value)
    assert message in str(caught.value)


def test_user_module_errors_pass_through(app_module: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (app_module / "shop" / "broken.py").write_text("raise ValueError('bad config at import')\n")
    with pytest.raises(ValueError, match="bad config at import"):
        import_layer(monkeypatch, "shop.broken.handler")


@pytest.fixture(scope="module")
def layer_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    output = tmp_path_factory.mktemp("layer") / "layer.zip"
    layer_build.build(output)
    return output


def test_layer_zip_contents(layer_zip: Path) -> None:
    size = layer_zip.stat().st_size
    assert 10_000 < size <= MAX_LAYER_BYTES, size
    with zipfile.ZipFile(layer_zip) as zf:
        names = zf.namelist()
        infos = zf.infolist()
    assert names == sorted(names)
    assert all(name.startswith("python/instana_serverless/") for name in names)
    assert "python/instana_serverless/lambda_layer.py" in names
    assert "python/instana_serverless/aws_lambda/decorator.py" in names
    assert "python/instana_serverless/py.typed" in names
    sources = [n for n in names if n.endswith(".py")]
    compiled = [n for n in names if n.endswith(".pyc")]
    tag = sys.implementation.cache_tag
    assert sorted(compiled) == sorted(
        n.rsplit("/", 1)[0] + f"/__pycache__/{n.rsplit('/', 1)[1][:-3]}.{tag}.pyc" for n in sources
    )
    parts = ("acceptor", "azure", "gcp", "fargate", "local", "cli.py", "doctor.py", "middleware.py")
    for part in parts:
        assert not any(n.startswith(f"python/instana_serverless/{part}") for n in names), part
    assert not any(part in ("boto3", "botocore") for n in names for part in n.split("/"))
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {(info.external_attr >> 16) & 0o777 for info in infos} == {0o644}


def test_layer_bytecode_is_used_without_checking_the_sources(
    layer_zip: Path, tmp_path: Path
) -> None:
    """Lambda's /opt is read-only: the shipped bytecode must be what runs, whatever the mtimes."""
    with zipfile.ZipFile(layer_zip) as zf:
        zf.extractall(tmp_path)
    source = tmp_path / "python" / "instana_serverless" / "ids.py"
    # Were the source compiled instead of the shipped bytecode, this import would fail.
    source.write_text("raise ImportError('compiled from source')\n")
    result = subprocess.run(
        [
            sys.executable,
            "-I",
            "-B",
            "-c",
            "import sys; sys.path.insert(0, sys.argv[1]);"
            "import instana_serverless.ids as ids; print(len(ids.new_id()))",
            str(tmp_path / "python"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "16"


def test_layer_zip_is_reproducible(layer_zip: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.zip"
    layer_build.build(again)
    assert again.read_bytes() == layer_zip.read_bytes()


def test_layer_zip_imports_in_a_clean_interpreter(layer_zip: Path, tmp_path: Path) -> None:
    """What Lambda does with /opt/python: import our handler from the layer alone."""
    assert_layer_handler_runs(sys.executable, layer_zip / "python", tmp_path)


def test_build_script_prints_size(tmp_path: Path) -> None:
    output = tmp_path / "cli.zip"
    result = subprocess.run(
        [sys.executable, str(ROOT / "lambda_layer" / "build.py"), "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert f"{output.stat().st_size} bytes" in result.stdout


CFN_LINT = Path(sys.executable).parent / "cfn-lint"


def test_template_passes_cfn_lint() -> None:
    result = subprocess.run(
        [str(CFN_LINT), str(ROOT / "template.yaml")], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_template_contents_and_lint_catches_mistakes(tmp_path: Path) -> None:
    text = (ROOT / "template.yaml").read_text()
    assert "Handler: instana_serverless.lambda_layer.handler" in text
    assert "NoEcho: true" in text
    # One runtime per layer: the one the functions run and the zip's bytecode serves
    # (tests/test_layer_runtimes.py checks the zip itself).
    assert "Runtime: python3.11" in text and "- python3.11" in text
    assert "ContentUri: dist/instana-serverless-layer-python3.11.zip" in text
    assert "Type: SQS" in text and "Type: Api" in text
    # one function gets the key in its environment, the other reads it from SSM
    assert text.count("INSTANA_AGENT_KEY: !Ref InstanaAgentKey") == 1
    assert "INSTANA_SSM_PARAM_NAME: !Ref InstanaAgentKeyParameter" in text
    assert "Action: ssm:GetParameter" in text and "Action: kms:Decrypt" in text
    # The lint is real: a broken copy fails it.
    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace("Timeout: 10", "Timeout: 99999"))
    result = subprocess.run(
        [str(CFN_LINT), str(broken)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0 and "E3034" in result.stdout, result.stdout


def test_the_layer_readme_quotes_no_figure_the_build_does_not_print() -> None:
    """Sizes and timings go stale: the README says what the build prints, not a number."""
    import re

    readme = (ROOT / "lambda_layer" / "README.md").read_text(encoding="utf-8")
    figures = re.findall(r"~?\d+(?:\.\d+)?\s?(?:KB|KiB|kB|MB|MiB|ms)\b", readme)
    assert figures == [], figures
