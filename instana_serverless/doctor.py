"""``instana-serverless doctor``: says in plain words whether tracing can work here, and why not.

It reads the environment exactly as the wrappers do (``config.resolve_quietly``, ``parse_endpoint``,
``platform.detect``, the layer's handler loader) and, unless told not to, sends an empty bundle
through the reporter's own transport. Every check is a function of an environ mapping (and the
resolved configuration) returning a ``Section`` of findings, so each can be tested alone.

Output is plain ASCII (``ok``/``warn``/``FAIL``/``info``), since it often ends up in Lambda's
console logs. Exit code 0: tracing can work (warnings allowed); 1: it cannot; 2: usage error.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import json
import os
import socket
import sys
from time import monotonic
from typing import Any, Callable, Dict, List, Mapping, NamedTuple, Optional, Tuple

from . import platform, runtime_support, settings
from .aws_lambda.extension import EXTENSION, RUNTIME_API_VARIABLE
from .aws_lambda.extension import SETTING as EXTENSION_SETTING
from .aws_lambda.extension import mode as sending_mode
from .aws_lambda.loader import HANDLER_VARIABLE, LAYER_HANDLER, HandlerLoadError, load_handler
from .config import AGENT_KEY, ENDPOINT_URL, Config, resolve_quietly
from .reporter import BUNDLE_RESOURCE
from .transport.endpoint import Endpoint, EndpointError, parse_endpoint, shown_host, shown_url

OK = "ok"
WARN = "warn"
FAIL = "FAIL"
INFO = "info"

# The smallest bundle the wire format allows (docs/CONTRACT.md §3): it proves the endpoint, the
# key and the network path without creating anything in the backend.
TEST_BUNDLE = b'{"spans":[],"metrics":{"plugins":[]}}'
TEST_HOST_ID = "instana-serverless-doctor"

PROXY_VARIABLE = "INSTANA_ENDPOINT_PROXY"
TIMEOUT_VARIABLE = "INSTANA_TIMEOUT"
MARGIN_VARIABLE = "INSTANA_LAMBDA_TIMEOUT_MARGIN_MS"
PROFILE_VARIABLE = "INSTANA_AUTO_PROFILE"

# name -> what applies when it is unset; "" for settings not worth listing when unset.
SETTINGS: Dict[str, str] = {
    row.variable: row.unset_note for row in settings.SETTINGS if row.variable
}
KNOWN_VARIABLES = settings.variables()

PLATFORM_NAMES = platform.NAMES
# The variables ``platform.detect`` looks at, per platform.
PLATFORM_VARIABLES = {
    platform.LAMBDA: ("AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_RUNTIME_API", "AWS_EXECUTION_ENV"),
    platform.FARGATE: ("AWS_EXECUTION_ENV",),
    platform.CLOUD_RUN: ("K_SERVICE", "K_REVISION", "K_CONFIGURATION"),
    platform.AZURE: (
        "FUNCTIONS_WORKER_RUNTIME",
        "FUNCTIONS_EXTENSION_VERSION",
        "WEBSITE_SITE_NAME",
    ),
}
FARGATE_METADATA = ("ECS_CONTAINER_METADATA_URI_V4", "ECS_CONTAINER_METADATA_URI")

_MAX_SHOWN = 120


class Finding(NamedTuple):
    level: str
    text: str
    name: Optional[str] = None  # the variable it is about, if any
    # A line that only takes the level of a problem reported on another line (a flagged
    # value's own setting line): shown with that level, counted once, at the problem.
    echo: bool = False


class Section:
    """One group of findings, plus data for ``--json`` readers."""

    def __init__(self, name: str, title: str) -> None:
        self.name = name
        self.title = title
        self.findings: List[Finding] = []
        self.data: Dict[str, Any] = {}

    def add(self, level: str, text: str, name: Optional[str] = None) -> None:
        self.findings.append(Finding(level, text, name))

    def levels(self) -> List[str]:
        return [finding.level for finding in self.findings]

    def as_dict(self) -> Dict[str, Any]:
        findings = [
            {"level": f.level, "text": f.text, **({"name": f.name} if f.name else {})}
            for f in self.findings
        ]
        return {"name": self.name, "title": self.title, "findings": findings, "data": self.data}


class Report:
    def __init__(self, sections: List[Section]) -> None:
        self.sections = sections

    def count(self, level: str) -> int:
        return sum(
            1
            for section in self.sections
            for finding in section.findings
            if finding.level == level and not finding.echo
        )

    @property
    def ok(self) -> bool:
        return self.count(FAIL) == 0

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def section(self, name: str) -> Optional[Section]:
        return next((s for s in self.sections if s.name == name), None)

    def as_dict(self) -> Dict[str, Any]:
        return {
            "ok": self.ok,
            "exit_code": self.exit_code,
            "sections": [section.as_dict() for section in self.sections],
        }


# --- helpers ---------------------------------------------------------------------------------


def _value(environ: Mapping[str, str], name: str) -> Optional[str]:
    """The variable's value, ``None`` when unset or blank (as ``config`` counts it)."""
    value = environ.get(name)
    return value if value and not value.isspace() else None


def _shown(value: str) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def mask_key(key: str) -> str:
    """Enough of the agent key to recognise it, never enough to use it."""
    shown = key[:2] if len(key) >= 8 else ""
    return f"{shown}...({len(key)} chars)"


def _without_credentials(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if "@" not in authority:
        return url
    return f"{scheme}{sep}***@{authority.rpartition('@')[2]}{slash}{path}"


def _redact(value: Any, key: str) -> Any:
    """``value`` with every occurrence of the agent key masked (it may sit in any variable)."""
    if isinstance(value, str):
        return value.replace(key, mask_key(key))
    if isinstance(value, list):
        return [_redact(item, key) for item in value]
    if isinstance(value, dict):
        return {name: _redact(item, key) for name, item in value.items()}
    return value


# --- platform --------------------------------------------------------------------------------


def check_platform(environ: Mapping[str, str]) -> Section:
    """Which platform ``platform.detect`` sees, and the variables that told it."""
    section = Section("platform", "Platform")
    detected = platform.detect(environ)
    section.data["platform"] = detected
    section.data["name"] = PLATFORM_NAMES[detected]
    if detected == platform.GENERIC:
        section.data["identified_by"] = {}
        section.add(OK, f"{PLATFORM_NAMES[detected]}: use the WSGI/ASGI middleware or spans")
        near = [
            f"{name}={_shown(environ[name])}"
            for names in PLATFORM_VARIABLES.values()
            for name in names
            if _value(environ, name)
        ]
        if near:
            section.add(
                INFO,
                f"found {', '.join(dict.fromkeys(near))}, but not enough to identify a platform",
            )
        check_python(section)
        return section
    evidence = {
        name: environ[name] for name in PLATFORM_VARIABLES[detected] if _value(environ, name)
    }
    section.data["identified_by"] = evidence
    shown = ", ".join(f"{name}={_shown(value)}" for name, value in evidence.items())
    section.add(OK, f"{PLATFORM_NAMES[detected]}, identified by {shown}")
    if detected == platform.FARGATE and not any(_value(environ, n) for n in FARGATE_METADATA):
        section.add(
            WARN,
            f"{FARGATE_METADATA[0]} is not set: task and container metrics cannot be read",
            FARGATE_METADATA[0],
        )
    check_python(section)
    return section


def check_python(
    section: Section,
    version: Optional[Tuple[int, int]] = None,
    today: Optional[Tuple[int, int, int]] = None,
) -> None:
    """The Python version, flagged when it is past its end of life (``runtime_support``)."""
    exact = runtime_support.exact_version() if version is None else "{}.{}".format(*version)
    section.data["python"] = exact
    outdated = runtime_support.outdated_message(version, today, exact)
    if outdated is not None:
        section.add(WARN, outdated)
        return
    eol = runtime_support.end_of_life(version)
    section.add(OK, f"Python {exact}" + (f", supported until {eol}" if eol else ""))


# --- configuration ---------------------------------------------------------------------------


def _effective(name: str, config: Config) -> Optional[Tuple[str, str]]:
    """How a set variable was understood, as (level, words), where that adds something."""
    if name == TIMEOUT_VARIABLE:
        return OK, f"{round(config.timeout_s * 1000)} ms per request"
    if name == "INSTANA_DISABLE_CA_CHECK" and config.disable_ca_check:
        return WARN, "certificate verification is OFF: use only for testing"
    if name == PROFILE_VARIABLE:
        return OK, profiling_summary(config)
    if name.startswith(PROFILE_VARIABLE + "_") and not config.auto_profile:
        return INFO, f"only used with {PROFILE_VARIABLE}=true"
    if name == "INSTANA_TRACING_DISABLE":
        if config.tracing_disabled:
            return WARN, "all tracing is switched off"
        if config.disabled_instrumentations:
            from .instrumentation.registry import known_names

            known = known_names()
            off = sorted(config.disabled_instrumentations & known)
            unknown = sorted(config.disabled_instrumentations - known)
            words = f"instrumentations switched off: {', '.join(off) or 'none'}"
            if unknown:  # flagged under Exit spans; this line takes that level from there
                words += f"; not instrumentation names: {', '.join(unknown)} (see Exit spans)"
            return OK, words
    return None


def profiling_summary(config: Config) -> str:
    """Whether AutoProfile runs, at what rate, and where its profiles can go."""
    if not config.auto_profile:
        return "AutoProfile off"
    interval = config.auto_profile_interval_ms
    return (
        f"AutoProfile on: one stack sample every {interval} ms ({1000 / interval:g} per second) "
        f"while an entry span is open; inferred spans for calls of at least "
        f"{config.auto_profile_min_ms} ms and {config.auto_profile_min_percent} % of the "
        "invocation. Profiles are not sent to Instana (its serverless acceptor documents no "
        "resource for them); only a loopback http:// endpoint (the local acceptor) gets them"
    )


def _safe_value(name: str, raw: str) -> str:
    """A set variable's value as fit to show: the key masked, URL credentials hidden."""
    if name == AGENT_KEY:
        return mask_key(raw.strip())
    if name == ENDPOINT_URL and shown_url(raw) != shown_url(raw).replace("<redacted>", ""):
        return shown_url(raw)  # a "host" that looks like a credential: the key pasted in?
    if name in (ENDPOINT_URL, PROXY_VARIABLE):
        raw = _without_credentials(raw)
    return raw if len(raw) <= _MAX_SHOWN else raw[: _MAX_SHOWN - 3] + "..."


def _describe_set(name: str, value: str, config: Config, section: Section) -> None:
    shown = value if name == AGENT_KEY else repr(value)
    effective = _effective(name, config)
    words = f" ({effective[1]})" if effective else ""
    section.add(effective[0] if effective else OK, f"{name} = {shown}{words}", name)


def suggest_name(name: str) -> Optional[str]:
    """The known variable an unknown ``INSTANA_*``-looking name was probably meant to be."""
    upper = name.upper()
    if upper in KNOWN_VARIABLES:
        return upper
    close = difflib.get_close_matches(upper, KNOWN_VARIABLES, n=1, cutoff=0.8)
    return close[0] if close else None


def check_unknown_variables(environ: Mapping[str, str], section: Section) -> None:
    for name in sorted(environ):
        if not name.upper().startswith("INSTANA_") or name in KNOWN_VARIABLES:
            continue
        if settings.is_filter_variable(name):
            continue  # a span filter rule: check_span_filters says what it understood
        meant = suggest_name(name)
        if meant is None:
            section.add(INFO, f"{name} is not read by instana-serverless", name)
        else:
            section.add(
                WARN, f"{name} is not read by instana-serverless: did you mean {meant}?", name
            )


def check_span_filters(config: Config, section: Section) -> None:
    """The filter rules understood and in force (what was not understood is among the
    resolver's warnings, each naming its variable or file)."""
    span_filter = config.span_filter
    if span_filter is None:
        section.data["span_filters"] = []
        return
    rules = [rule.describe() for rule in span_filter.rules()]
    for text in rules:
        section.add(OK, f"span filter from {span_filter.source}: {text}", settings.FILTER_VARIABLES)
    section.data["span_filters"] = rules


def check_endpoint_setting(config: Config, section: Section) -> Optional[Endpoint]:
    """The parsed endpoint, or ``None`` with a FAIL saying why nothing can be reported."""
    if config.missing:
        section.add(
            FAIL,
            f"{' and '.join(config.missing)} not set: nothing can be reported, the wrappers "
            "run your functions untraced",
        )
        return None
    assert config.endpoint_url is not None
    if "://" in (config.agent_key or ""):
        section.add(
            FAIL,
            f"{AGENT_KEY} holds a URL: {AGENT_KEY} and {ENDPOINT_URL} look swapped; the "
            "wrappers run your functions untraced",
            AGENT_KEY,
        )
        return None
    try:
        endpoint = parse_endpoint(config.endpoint_url)
    except EndpointError as exc:
        reason = str(exc).replace(config.endpoint_url, _without_credentials(config.endpoint_url))
        section.add(FAIL, f"{reason}: nothing can be reported", ENDPOINT_URL)
        return None
    if endpoint.scheme == "http":
        section.add(
            INFO,
            f"plain http:// is accepted only because {endpoint.host!r} is a loopback host "
            "(e.g. the local acceptor); the real backend needs https://",
            ENDPOINT_URL,
        )
    # An unusable proxy was already reported by the resolver's warning, and dropped.
    proxy = config.endpoint_proxy
    if proxy and "@" in proxy.partition("://")[2].partition("/")[0]:
        section.add(WARN, "credentials in the proxy URL are not sent to the proxy", PROXY_VARIABLE)
    return endpoint


def check_settings(
    environ: Mapping[str, str], detected: str
) -> Tuple[Section, Config, Optional[Endpoint]]:
    """Every setting that is set, the important unset ones, invalid values and likely typos;
    with the resolved configuration and the endpoint, if one is usable."""
    section = Section("configuration", "Configuration")
    config, warnings = resolve_quietly(None, environ)
    shown: Dict[str, str] = {}
    for name, default in SETTINGS.items():
        raw = _value(environ, name)
        mine = [text for text in warnings if f" for {name}:" in text]
        if raw is not None:
            shown[name] = _safe_value(name, raw)
            if not mine:  # an invalid value is shown by its warning, which names the value
                _describe_set(name, shown[name], config, section)
            only_on = settings.READ_ONLY_ON.get(name)
            if only_on is not None and detected != only_on:
                here = PLATFORM_NAMES.get(detected, detected)
                section.add(
                    WARN,
                    f"{name} is read only on {PLATFORM_NAMES[only_on]}: nothing on {here} "
                    "reads it (remove it, or is the platform detected wrongly? see Platform)",
                    name,
                )
        elif default:
            section.add(INFO, f"{name} not set: {default} (default)", name)
        for text in mine:
            section.add(WARN, text, name)
            warnings.remove(text)
    for text in warnings:
        section.add(WARN, text)
    endpoint = check_endpoint_setting(config, section)
    check_span_filters(config, section)
    check_unknown_variables(environ, section)
    section.data["settings"] = shown
    section.data["profiling"] = {
        "on": config.auto_profile,
        "interval_ms": config.auto_profile_interval_ms,
        "samples_per_second": round(1000 / config.auto_profile_interval_ms, 3),
        "profiles_to_instana": False,
    }
    return section, config, endpoint


# --- endpoint --------------------------------------------------------------------------------


def explain_transport_error(exc: BaseException, endpoint: Endpoint, config: Config) -> str:
    """Plain words for why the test bundle did not get an answer."""
    import ssl

    from .transport.resolve import ResolveTimeout

    cause = exc.__cause__ or exc
    target = (
        "the proxy"
        if config.endpoint_proxy
        else endpoint.authority.replace(endpoint.host, shown_host(endpoint.host), 1)
    )
    timeout_ms = round(config.timeout_s * 1000)
    if isinstance(cause, ConnectionRefusedError):
        return f"connection refused: nothing listens at {target}"
    if isinstance(cause, ResolveTimeout):
        return f"the host name of {target} was not resolved within {timeout_ms} ms: slow DNS?"
    if isinstance(cause, (socket.timeout, TimeoutError)):
        return (
            f"no answer within {timeout_ms} ms ({TIMEOUT_VARIABLE}): the endpoint is too slow "
            "or the network path (firewall, VPC without internet access) swallows the request"
        )
    if isinstance(cause, socket.gaierror):
        return f"cannot resolve the host name of {target}: {cause}"
    if isinstance(cause, ssl.SSLCertVerificationError):
        return (
            f"the TLS certificate of {target} is not trusted ({cause.verify_message}); "
            "INSTANA_DISABLE_CA_CHECK=true skips the check (for testing only)"
        )
    if isinstance(cause, ssl.SSLError):
        return f"the TLS handshake with {target} failed: {cause}"
    if isinstance(cause, ConnectionError):
        return (
            f"{target} closed the connection without answering "
            "(wrong port, or https:// to a plain http server?)"
        )
    return f"the request failed: {exc}"


def explain_status(status: int) -> Tuple[str, str]:
    """(level, words) for the HTTP status the endpoint answered the test bundle with."""
    if status < 300:
        return OK, "the endpoint accepted the test bundle"
    if status < 400:
        return FAIL, "a redirect, which the reporter does not follow: use the final URL"
    if status in (401, 403):
        return FAIL, f"the endpoint rejected the agent key: check {AGENT_KEY}"
    if status in (404, 405):
        return FAIL, f"no bundle resource at this URL: check the path of {ENDPOINT_URL}"
    if status == 407:
        return FAIL, "the proxy wants credentials, which the reporter does not send"
    if status in (408, 429):
        return WARN, "the endpoint is busy; bundles are kept and retried at the next flush"
    if status < 500:
        return FAIL, "the endpoint refused the test bundle: is this the serverless endpoint?"
    return FAIL, "the backend failed; spans are kept and retried, but none get through now"


def check_endpoint(config: Config, endpoint: Optional[Endpoint], network: bool = True) -> Section:
    """POST the test bundle through the reporter's transport, with the configured settings."""
    from .transport.http import HttpTransport, TransportError

    section = Section("endpoint", "Endpoint")
    if not network:
        section.add(INFO, "test bundle skipped (--no-network)")
        return section
    if endpoint is None or not config.agent_key:
        section.add(INFO, "test bundle skipped: no usable endpoint and key (see Configuration)")
        return section
    authority = endpoint.authority.replace(endpoint.host, shown_host(endpoint.host), 1)
    if endpoint.port == (443 if endpoint.scheme == "https" else 80):
        authority = authority.rsplit(":", 1)[0]
    url = f"{endpoint.scheme}://{authority}{endpoint.path_for(BUNDLE_RESOURCE)}"
    section.data.update(url=url, status=None, elapsed_ms=None, error=None)
    transport = HttpTransport(
        endpoint,
        headers={"Content-Type": "application/json", "X-Instana-Key": config.agent_key},
        proxy=config.endpoint_proxy,
        verify_tls=not config.disable_ca_check,
    )
    started = monotonic()
    try:
        status = transport.post(
            BUNDLE_RESOURCE,
            TEST_BUNDLE,
            {"X-Instana-Host": TEST_HOST_ID},
            started + config.timeout_s,
        )
    except TransportError as exc:
        elapsed_ms = (monotonic() - started) * 1000
        reason = explain_transport_error(exc, endpoint, config)
        section.data.update(elapsed_ms=round(elapsed_ms, 1), error=reason)
        section.add(FAIL, f"POST {url} failed after {elapsed_ms:.0f} ms: {reason}")
        return section
    finally:
        transport.close()
    elapsed_ms = (monotonic() - started) * 1000
    section.data.update(status=status, elapsed_ms=round(elapsed_ms, 1))
    level, words = explain_status(status)
    section.add(level, f"POST {url} answered HTTP {status} in {elapsed_ms:.0f} ms: {words}")
    if level == OK and elapsed_ms > 0.8 * config.timeout_s * 1000:
        section.add(
            WARN,
            f"that is close to {TIMEOUT_VARIABLE} ({round(config.timeout_s * 1000)} ms): "
            "flushes may time out",
            TIMEOUT_VARIABLE,
        )
    return section


# --- instrumentation -------------------------------------------------------------------------


def _installed_version(entry: Any) -> Tuple[bool, Optional[str]]:
    """Whether ``entry``'s library can be imported here, and its distribution's version; read
    from package metadata, never by importing the library."""
    from importlib import metadata, util

    top = entry.modules[0].partition(".")[0]
    try:
        installed = util.find_spec(top) is not None
    except (ImportError, ValueError):
        installed = False
    if not installed:
        return False, None
    for distribution in entry.distribution.split(","):  # "psycopg2, psycopg2-binary"
        try:
            return True, metadata.version(distribution.strip())
        except metadata.PackageNotFoundError:
            continue
    return True, None


def check_instrumentation(config: Config) -> Section:
    """Every library the registry knows: installed or not, traced, disabled or too old, and
    any ``INSTANA_TRACING_DISABLE`` word that names nothing we know."""
    from .instrumentation import parse_version, patched, skipped
    from .instrumentation.registry import ENTRIES, known_names

    section = Section("instrumentation", "Exit spans")
    disabled = config.disabled_instrumentations
    known = known_names()
    in_process = patched()
    left_alone = skipped()
    libraries: Dict[str, Dict[str, Any]] = {}
    for entry in ENTRIES:
        spans = entry.span.replace("`", "")  # the registry writes them for the README
        installed, version = _installed_version(entry)
        shown = f"{entry.name} {version}" if version else entry.name
        why_off = sorted(entry.keys & disabled)
        found = parse_version(version)
        if not installed:
            status, level, text = "not installed", INFO, f"{entry.name}: not installed"
        elif why_off:
            status, level = "disabled", INFO
            text = f"{shown}: disabled by INSTANA_TRACING_DISABLE ({', '.join(why_off)})"
        elif entry.name in left_alone or (
            found is not None and entry.min_version is not None and found < entry.min_version
        ):
            wanted = ".".join(str(n) for n in entry.min_version or ())
            status, level = "too old", WARN
            text = f"{shown}: older than {wanted}, not traced ({entry.versions} is)"
        elif not config.tracing_disabled and entry.name in in_process:
            status, level, text = "patched", OK, f"{shown}: patched, exit spans {spans}"
        elif config.tracing_disabled:
            status, level, text = "tracing off", INFO, f"{shown}: not traced (tracing is off)"
        else:
            status, level = "traced", OK
            text = f"{shown}: patched when imported, exit spans {spans}"
        libraries[entry.name] = {"installed": installed, "version": version, "status": status}
        section.add(level, text)
    unknown = sorted(disabled - known)
    for word in unknown:
        close = difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.6)
        hint = f": did you mean {close[0]!r}?" if close else f" (known: {', '.join(sorted(known))})"
        section.add(
            WARN,
            f"INSTANA_TRACING_DISABLE names {word!r}, which is no instrumentation{hint}",
            "INSTANA_TRACING_DISABLE",
        )
    section.data.update(libraries=libraries, unknown_disabled=unknown, known=sorted(known))
    return section


# --- Lambda handler --------------------------------------------------------------------------


def needs_lambda_check(environ: Mapping[str, str], detected: str) -> bool:
    return (
        detected == platform.LAMBDA
        or _value(environ, HANDLER_VARIABLE) is not None
        or (environ.get("_HANDLER") or "").strip() == LAYER_HANDLER
    )


def _resolve_handler(spec: str, search_root: str) -> Tuple[bool, str]:
    """Load ``spec`` as the layer does, with ``search_root`` importable as in the runtime."""
    added = search_root not in sys.path
    if added:
        sys.path.insert(0, search_root)
    try:
        target = load_handler(spec)
    except HandlerLoadError as exc:
        return False, str(exc)
    except (Exception, SystemExit) as exc:  # the user's module failed while being imported
        return (
            False,
            f"{HANDLER_VARIABLE}={spec!r}: importing it raised {type(exc).__name__}: {exc}",
        )
    finally:
        if added and search_root in sys.path:
            sys.path.remove(search_root)
    name = f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', spec)}"
    return True, f"{HANDLER_VARIABLE}={spec!r} resolves to {name}"


def check_sending_mode(
    environ: Mapping[str, str], config: Optional[Config], section: Section
) -> None:
    """Extension mode (spans sent after the response) or flush before return: one line per
    mode that can apply, each with the condition under which it does."""
    mode, why = sending_mode()
    section.data["sending_mode"] = mode
    setting = EXTENSION_SETTING
    if mode == EXTENSION:  # asked from inside the function's own process
        section.add(OK, f"sending mode: extension ({why})", setting)
        return
    flush_words = "every invocation waits for one POST to the Instana endpoint"
    if config is not None and not config.lambda_extension:
        section.add(
            INFO, f"sending mode: flush before return, as {setting} is off: {flush_words}", setting
        )
        return
    section.data["sending_mode"] = EXTENSION
    address = environ.get(RUNTIME_API_VARIABLE)
    after = "spans are sent after the response, before the sandbox freezes"
    if address:
        section.add(
            OK,
            f"sending mode: extension, if the Extensions API at {address} accepts the "
            f"registration at init: {after}",
            setting,
        )
        section.add(
            INFO,
            f"sending mode: flush before return, if that registration is refused: {flush_words}"
            " (INSTANA_DEBUG=true logs which mode is active)",
            setting,
        )
        return
    section.add(
        INFO,
        f"sending mode here: flush before return, as {RUNTIME_API_VARIABLE} is not set (no "
        f"Extensions API to register with): {flush_words}",
        setting,
    )
    section.add(
        INFO,
        f"sending mode on Lambda: extension, once the Extensions API accepts the registration "
        f"at init: {after}",
        setting,
    )


def check_lambda(environ: Mapping[str, str], config: Optional[Config] = None) -> Section:
    """Whether the function handler is the layer's, ``LAMBDA_HANDLER`` resolves, and how
    spans will leave (extension mode or flush before return)."""
    section = Section("lambda", "Lambda handler")
    check_sending_mode(environ, config, section)
    function_handler = (environ.get("_HANDLER") or "").strip() or None
    spec = _value(environ, HANDLER_VARIABLE)
    section.data.update(function_handler=function_handler, lambda_handler=spec, resolved=None)
    via_layer = function_handler == LAYER_HANDLER
    if via_layer:
        section.add(OK, f"the function handler is the layer's ({LAYER_HANDLER})", "_HANDLER")
    elif function_handler is not None:
        extra = f"; {HANDLER_VARIABLE} is ignored" if spec else ""
        section.add(
            WARN if spec else INFO,
            f"the function handler is {function_handler!r}, not {LAYER_HANDLER}: only a "
            f"handler wrapped with @instana.lambda_handler in code is traced{extra}",
            "_HANDLER",
        )
    if spec is None:
        if via_layer:
            section.add(FAIL, f"{HANDLER_VARIABLE} is not set: the layer has no handler to call")
        elif function_handler is None:
            section.add(
                WARN,
                f"{HANDLER_VARIABLE} is not set: needed when the function handler is "
                f"{LAYER_HANDLER}",
                HANDLER_VARIABLE,
            )
        return section
    # The runtime imports handlers from the task root; run locally, the current directory.
    search_root = _value(environ, "LAMBDA_TASK_ROOT") or os.getcwd()
    resolved, text = _resolve_handler(spec, search_root)
    section.data["resolved"] = resolved
    section.add(OK if resolved else FAIL, text, HANDLER_VARIABLE)
    return section


CPU_SETTING = "INSTANA_CLOUD_RUN_CPU_ALWAYS_ALLOCATED"


def check_cloud_run(config: Config) -> Section:
    """When spans leave on Cloud Run: before each response completes (request-based billing),
    or from a background thread after it (CPU always allocated)."""
    section = Section("cloud_run", "Cloud Run")
    if config.cloud_run_cpu_always_allocated:
        section.data["sending_mode"] = "after the response"
        section.add(
            INFO,
            f"sending mode: after the response, from a background thread ({CPU_SETTING} is "
            "on); right only for a service with CPU always allocated (--no-cpu-throttling): "
            "on a throttled one, spans wait for the next request",
            CPU_SETTING,
        )
    else:
        section.data["sending_mode"] = "before the response completes"
        section.add(
            OK,
            "sending mode: before each response completes (request-based billing, where the "
            "CPU is throttled between requests): each response waits one round trip to the "
            f"Instana endpoint; with CPU always allocated, set {CPU_SETTING}=true",
            CPU_SETTING,
        )
    return section


# --- the command -----------------------------------------------------------------------------


SSM_HINTS = {
    "AccessDenied": "the function's role needs ssm:GetParameter on the parameter (and "
    "kms:Decrypt for a SecureString); template.yaml shows the statement",
    "AccessDeniedException": "the function's role needs ssm:GetParameter on the parameter (and "
    "kms:Decrypt for a SecureString); template.yaml shows the statement",
    "ParameterNotFound": "no parameter of that name in this account and region",
    "MissingCredentials": "the function's role credentials are not in the environment",
    "MissingRegion": "AWS_REGION is not set",
    "SignatureDoesNotMatch": "the credentials were refused",
    "UnrecognizedClientException": "the credentials were refused",
}


def check_ssm(
    config: Config, environ: Mapping[str, str], detected: str, network: bool
) -> Tuple[Section, Optional[str]]:
    """INSTANA_SSM_PARAM_NAME: read the key as the function would; the key when it worked."""
    from .aws_lambda.ssm import NAME_VARIABLE, SsmError, fetch

    section = Section("ssm", "Agent key from SSM Parameter Store")
    name = config.ssm_param_name
    assert name is not None
    section.data.update(parameter=name, decryption=config.ssm_decryption, read=False)
    if detected != platform.LAMBDA:
        section.add(
            WARN,
            f"{NAME_VARIABLE} is read on AWS Lambda only: elsewhere set {AGENT_KEY}",
            NAME_VARIABLE,
        )
    if not network:
        section.add(INFO, f"reading {name!r} skipped (--no-network)", NAME_VARIABLE)
        return section, None
    try:
        key = fetch(name, config.ssm_decryption, environ)
    except SsmError as exc:
        hint = SSM_HINTS.get(exc.code, "")
        words = f"{exc.code}: {exc.message}" if exc.message else exc.code
        section.add(
            FAIL,
            f"the agent key could not be read from {name!r}: {words}"
            + (f" ({hint})" if hint else ""),
            NAME_VARIABLE,
        )
        section.data["error"] = exc.code
        return section, None
    section.data["read"] = True
    kind = "a decrypted SecureString" if config.ssm_decryption else "a String"
    section.add(OK, f"the agent key was read from {name!r} ({kind})", NAME_VARIABLE)
    return section, key


def diagnose(environ: Mapping[str, str], network: bool = True) -> Report:
    platform_section = check_platform(environ)
    detected = platform_section.data["platform"]
    settings, config, endpoint = check_settings(environ, detected)
    extra: List[Section] = []
    if config.ssm_param_name and config.agent_key:
        settings.add(
            INFO,
            f"INSTANA_SSM_PARAM_NAME is not read: {AGENT_KEY} is set and wins",
            "INSTANA_SSM_PARAM_NAME",
        )
    elif config.ssm_param_name:
        ssm_section, key = check_ssm(config, environ, detected, network)
        extra.append(ssm_section)
        if key is not None:  # the test bundle goes with the key the function would use
            config = copy.copy(config)
            config.agent_key = key
    sections = [
        platform_section,
        settings,
        *extra,
        check_endpoint(config, endpoint, network),
        check_instrumentation(config),
    ]
    if needs_lambda_check(environ, detected):
        sections.append(check_lambda(environ, config))
    if detected == platform.CLOUD_RUN:
        sections.append(check_cloud_run(config))
    _no_ok_beside_a_flag(sections)
    key = config.agent_key
    if key and len(key) >= 4:
        for section in sections:
            section.findings = [f._replace(text=_redact(f.text, key)) for f in section.findings]
            section.data = _redact(section.data, key)
    return Report(sections)


_SEVERITY = {INFO: 0, OK: 0, WARN: 1, FAIL: 2}


def _no_ok_beside_a_flag(sections: List[Section]) -> None:
    """A variable flagged anywhere (WARN or FAIL, e.g. an unknown instrumentation name in
    ``INSTANA_TRACING_DISABLE``, a plain-http remote endpoint) is never shown ``ok`` elsewhere:
    its ``ok`` lines take the level of its worst flag."""
    worst: Dict[str, str] = {}
    for section in sections:
        for finding in section.findings:
            if finding.name and _SEVERITY[finding.level] > _SEVERITY[worst.get(finding.name, OK)]:
                worst[finding.name] = finding.level
    for section in sections:
        section.findings = [
            f._replace(level=worst[f.name], echo=True) if f.level == OK and f.name in worst else f
            for f in section.findings
        ]


def render_text(report: Report) -> str:
    lines = ["instana-serverless doctor"]
    for section in report.sections:
        lines.append("")
        lines.append(section.title)
        lines.extend(f"  {f.level:<5} {f.text}" for f in section.findings)
    warnings = report.count(WARN)
    noted = f" ({warnings} warning{'s' if warnings != 1 else ''})" if warnings else ""
    lines.append("")
    if report.ok:
        lines.append(f"Result: tracing can work{noted}")
    else:
        failures = report.count(FAIL)
        lines.append(
            f"Result: tracing cannot work: {failures} problem{'s' if failures != 1 else ''} "
            f"marked {FAIL} above{noted}"
        )
    return "\n".join(lines) + "\n"


def render_json(report: Report) -> str:
    return json.dumps(report.as_dict(), indent=2) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-network", action="store_true", help="do not send the test bundle to the endpoint"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace, environ: Optional[Mapping[str, str]] = None) -> int:
    report = diagnose(os.environ if environ is None else environ, network=not args.no_network)
    render: Callable[[Report], str] = render_json if args.json else render_text
    sys.stdout.write(render(report))
    sys.stdout.flush()
    return report.exit_code
