"""Configuration: in-code ``Options`` merged with ``INSTANA_*`` environment variables.

Which settings exist, their variables and which of them the environment wins (operators can
change those without a deploy of new code) is declared once, in ``settings.SETTINGS``; the
resolver below reads exactly those rows (``tests/test_settings.py`` checks it).

Booleans accept ``true/1/yes/on`` and ``false/0/no/off`` (case-insensitive, surrounding blanks
ignored). Empty variables count as unset. Every invalid value, in the environment or in
``Options``, logs exactly one warning naming the setting and the bad value (never the agent key)
and the default is used instead (for the environment-wins settings, an invalid environment value
lets the ``Options`` value apply).
"""

from __future__ import annotations

import os
from collections import abc

from . import log, settings
from .secrets import DEFAULT_SECRETS, SecretsMatcher, mask_url_credentials

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, List, Mapping, Optional, Sequence, Tuple, TypeVar, Union

    from .span_filter import SpanFilter

# Numeric levels of the ``logging`` module, which is not imported on the cold-start path.
DEBUG = 10
INFO = 20
WARNING = 30
ERROR = 40

DEFAULT_TIMEOUT_MS = 500
DEFAULT_TIMEOUT_MARGIN_MS = 200
DEFAULT_PROFILE_INTERVAL_MS = 10
DEFAULT_PROFILE_MIN_MS = 20
DEFAULT_PROFILE_MIN_PERCENT = 10
DEFAULT_LOG_LEVEL = ERROR
DEFAULT_KAFKA_HEADER_FORMAT = "string"
# The formats of docs/CONTRACT.md §5 (kafka_context.FORMATS, which config does not import).
_KAFKA_HEADER_FORMATS = ("string", "binary", "both")
DEFAULT_STACK_TRACE = "all"
DEFAULT_STACK_TRACE_LENGTH = 30
MAX_STACK_TRACE_LENGTH = 40  # the official sensor's hard limit
STACK_TRACE_LEVELS = ("all", "error", "none")

ENDPOINT_URL = "INSTANA_ENDPOINT_URL"
AGENT_KEY = "INSTANA_AGENT_KEY"
PROXY_VARIABLE = "INSTANA_ENDPOINT_PROXY"

_TRUE = frozenset(("true", "1", "yes", "on"))
_FALSE = frozenset(("false", "0", "no", "off"))
_LEVELS = {"debug": DEBUG, "info": INFO, "warn": WARNING, "warning": WARNING, "error": ERROR}

_MAX_SHOWN = 120

if TYPE_CHECKING:
    _T = TypeVar("_T")


class Options:
    """What the user passes in code. Every field is optional; ``None`` means "not set"."""

    __slots__ = (
        "agent_key",
        "allow_exit_as_root",
        "auto_profile",
        "auto_profile_interval_ms",
        "auto_profile_min_ms",
        "auto_profile_min_percent",
        "cloud_run_cpu_always_allocated",
        "debug",
        "disable_ca_check",
        "disable_w3c_trace_correlation",
        "disabled_instrumentations",
        "endpoint_proxy",
        "endpoint_url",
        "extra_http_headers",
        "kafka_header_format",
        "kafka_trace_correlation",
        "lambda_extension",
        "log_level",
        "logger",
        "process_name",
        "secrets",
        "service_name",
        "span_filters",
        "ssm_decryption",
        "ssm_param_name",
        "stack_trace",
        "stack_trace_length",
        "tags",
        "timeout_margin_ms",
        "timeout_ms",
        "tracing_disabled",
        "zone",
    )

    def __init__(
        self,
        *,
        endpoint_url: Optional[str] = None,
        agent_key: Optional[str] = None,
        timeout_ms: Optional[int] = None,
        endpoint_proxy: Optional[str] = None,
        disable_ca_check: Optional[bool] = None,
        extra_http_headers: Optional[Sequence[str]] = None,
        secrets: Union[str, SecretsMatcher, None] = None,
        zone: Optional[str] = None,
        tags: Optional[Mapping[str, Optional[str]]] = None,
        tracing_disabled: Optional[bool] = None,
        disabled_instrumentations: Optional[Sequence[str]] = None,
        disable_w3c_trace_correlation: Optional[bool] = None,
        service_name: Optional[str] = None,
        process_name: Optional[str] = None,
        debug: Optional[bool] = None,
        log_level: Optional[str] = None,
        auto_profile: Optional[bool] = None,
        logger: Optional[Any] = None,
        timeout_margin_ms: Optional[int] = None,
        lambda_extension: Optional[bool] = None,
        auto_profile_interval_ms: Optional[int] = None,
        auto_profile_min_ms: Optional[int] = None,
        auto_profile_min_percent: Optional[int] = None,
        cloud_run_cpu_always_allocated: Optional[bool] = None,
        kafka_header_format: Optional[str] = None,
        kafka_trace_correlation: Optional[bool] = None,
        stack_trace: Optional[str] = None,
        stack_trace_length: Optional[int] = None,
        allow_exit_as_root: Optional[bool] = None,
        span_filters: Union[Mapping[str, Any], SpanFilter, None] = None,
        ssm_param_name: Optional[str] = None,
        ssm_decryption: Optional[bool] = None,
    ) -> None:
        self.span_filters = span_filters
        self.ssm_param_name = ssm_param_name
        self.ssm_decryption = ssm_decryption
        self.stack_trace = stack_trace
        self.stack_trace_length = stack_trace_length
        self.allow_exit_as_root = allow_exit_as_root
        self.endpoint_url = endpoint_url
        self.agent_key = agent_key
        self.timeout_ms = timeout_ms
        self.endpoint_proxy = endpoint_proxy
        self.disable_ca_check = disable_ca_check
        self.extra_http_headers = extra_http_headers
        self.secrets = secrets
        self.zone = zone
        self.tags = tags
        self.tracing_disabled = tracing_disabled
        self.disabled_instrumentations = disabled_instrumentations
        self.disable_w3c_trace_correlation = disable_w3c_trace_correlation
        self.service_name = service_name
        self.process_name = process_name
        self.debug = debug
        self.log_level = log_level
        self.auto_profile = auto_profile
        self.logger = logger
        self.timeout_margin_ms = timeout_margin_ms
        self.lambda_extension = lambda_extension
        self.auto_profile_interval_ms = auto_profile_interval_ms
        self.auto_profile_min_ms = auto_profile_min_ms
        self.auto_profile_min_percent = auto_profile_min_percent
        self.cloud_run_cpu_always_allocated = cloud_run_cpu_always_allocated
        self.kafka_header_format = kafka_header_format
        self.kafka_trace_correlation = kafka_trace_correlation

    def __repr__(self) -> str:
        shown = []
        for name in self.__slots__:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, str):
                if self.agent_key:  # pasted into another setting by mistake
                    value = value.replace(self.agent_key, "***")
                value = mask_url_credentials(value)
            shown.append(f"{name}={'***' if name == 'agent_key' else repr(value)}")
        return f"Options({', '.join(shown)})"


class Config:
    """Resolved configuration; treat as read-only (``resolve`` builds it).

    Every field has a default, so ``Config(agent_key=..., ...)`` is a convenient way to build
    one in tests. ``agent_key`` never appears in ``repr``/``str``.
    """

    __slots__ = (
        "agent_key",
        "allow_exit_as_root",
        "auto_profile",
        "auto_profile_interval_ms",
        "auto_profile_min_ms",
        "auto_profile_min_percent",
        "cloud_run_cpu_always_allocated",
        "debug",
        "disable_ca_check",
        "disable_w3c_trace_correlation",
        "disabled_instrumentations",
        "endpoint_proxy",
        "endpoint_url",
        "extra_http_headers",
        "kafka_header_format",
        "kafka_trace_correlation",
        "lambda_extension",
        "log_level",
        "log_level_explicit",
        "logger",
        "process_name",
        "secrets",
        "service_name",
        "span_filter",
        "ssm_decryption",
        "ssm_param_name",
        "stack_trace",
        "stack_trace_length",
        "tags",
        "timeout_margin_ms",
        "timeout_s",
        "tracing_disabled",
        "zone",
    )

    endpoint_url: Optional[str]
    agent_key: Optional[str]
    timeout_s: float
    endpoint_proxy: Optional[str]
    disable_ca_check: bool
    extra_http_headers: Tuple[str, ...]
    secrets: SecretsMatcher
    zone: Optional[str]
    tags: dict[str, Optional[str]]
    tracing_disabled: bool
    disabled_instrumentations: frozenset[str]
    disable_w3c_trace_correlation: bool
    service_name: Optional[str]
    process_name: Optional[str]
    debug: bool
    log_level: int
    log_level_explicit: bool
    auto_profile: bool
    auto_profile_interval_ms: int
    auto_profile_min_ms: int
    auto_profile_min_percent: int
    stack_trace: str
    stack_trace_length: int
    allow_exit_as_root: bool
    span_filter: Optional[SpanFilter]
    ssm_param_name: Optional[str]
    ssm_decryption: bool
    timeout_margin_ms: int
    lambda_extension: bool
    cloud_run_cpu_always_allocated: bool
    logger: Optional[Any]
    kafka_header_format: str
    kafka_trace_correlation: bool

    def __init__(
        self,
        *,
        endpoint_url: Optional[str] = None,
        agent_key: Optional[str] = None,
        timeout_s: float = DEFAULT_TIMEOUT_MS / 1000.0,
        endpoint_proxy: Optional[str] = None,
        disable_ca_check: bool = False,
        extra_http_headers: Tuple[str, ...] = (),
        secrets: SecretsMatcher = DEFAULT_SECRETS,
        zone: Optional[str] = None,
        tags: Optional[dict[str, Optional[str]]] = None,
        tracing_disabled: bool = False,
        disabled_instrumentations: frozenset[str] = frozenset(),
        disable_w3c_trace_correlation: bool = False,
        service_name: Optional[str] = None,
        process_name: Optional[str] = None,
        debug: bool = False,
        log_level: int = DEFAULT_LOG_LEVEL,
        log_level_explicit: bool = False,
        auto_profile: bool = False,
        timeout_margin_ms: int = DEFAULT_TIMEOUT_MARGIN_MS,
        lambda_extension: bool = True,
        logger: Optional[Any] = None,
        auto_profile_interval_ms: int = DEFAULT_PROFILE_INTERVAL_MS,
        auto_profile_min_ms: int = DEFAULT_PROFILE_MIN_MS,
        auto_profile_min_percent: int = DEFAULT_PROFILE_MIN_PERCENT,
        cloud_run_cpu_always_allocated: bool = False,
        kafka_header_format: str = DEFAULT_KAFKA_HEADER_FORMAT,
        kafka_trace_correlation: bool = True,
        stack_trace: str = DEFAULT_STACK_TRACE,
        stack_trace_length: int = DEFAULT_STACK_TRACE_LENGTH,
        allow_exit_as_root: bool = False,
        span_filter: Optional[SpanFilter] = None,
        ssm_param_name: Optional[str] = None,
        ssm_decryption: bool = False,
    ) -> None:
        self.span_filter = span_filter
        self.ssm_param_name = ssm_param_name
        self.ssm_decryption = ssm_decryption
        self.stack_trace = stack_trace
        self.stack_trace_length = stack_trace_length
        self.allow_exit_as_root = allow_exit_as_root
        self.endpoint_url = endpoint_url
        self.agent_key = agent_key
        self.timeout_s = timeout_s
        self.endpoint_proxy = endpoint_proxy
        self.disable_ca_check = disable_ca_check
        self.extra_http_headers = extra_http_headers
        self.secrets = secrets
        self.zone = zone
        self.tags = {} if tags is None else tags
        self.tracing_disabled = tracing_disabled
        self.disabled_instrumentations = disabled_instrumentations
        self.disable_w3c_trace_correlation = disable_w3c_trace_correlation
        self.service_name = service_name
        self.process_name = process_name
        self.debug = debug
        self.log_level = log_level
        self.log_level_explicit = log_level_explicit
        self.auto_profile = auto_profile
        self.timeout_margin_ms = timeout_margin_ms
        self.lambda_extension = lambda_extension
        self.logger = logger
        self.auto_profile_interval_ms = auto_profile_interval_ms
        self.auto_profile_min_ms = auto_profile_min_ms
        self.auto_profile_min_percent = auto_profile_min_percent
        self.cloud_run_cpu_always_allocated = cloud_run_cpu_always_allocated
        self.kafka_header_format = kafka_header_format
        self.kafka_trace_correlation = kafka_trace_correlation

    @property
    def missing(self) -> Tuple[str, ...]:
        """Names of the required environment variables whose value is absent."""
        missing: List[str] = []
        if not self.endpoint_url:
            missing.append(ENDPOINT_URL)
        if not self.agent_key and not self.ssm_param_name:  # the key may come from SSM
            missing.append(AGENT_KEY)
        return tuple(missing)

    @property
    def reporting_enabled(self) -> bool:
        """True when the endpoint URL and the agent key (or its SSM parameter) are known."""
        return bool(self.endpoint_url) and bool(self.agent_key or self.ssm_param_name)

    def __repr__(self) -> str:
        shown = []
        for name in self.__slots__:
            value = getattr(self, name)
            if name == "agent_key":
                shown.append(f"agent_key={'***' if value else None!r}")
            elif isinstance(value, str):
                if self.agent_key:  # pasted into another setting by mistake
                    value = value.replace(self.agent_key, "***")
                shown.append(f"{name}={mask_url_credentials(value)!r}")
            else:
                shown.append(f"{name}={value!r}")
        return f"Config({', '.join(shown)})"


def resolve(
    options: Optional[Options] = None, environ: Optional[Mapping[str, str]] = None
) -> Config:
    """Merge ``options`` with ``environ`` (default ``os.environ``) into a ``Config``.

    Configuration warnings are emitted once the result is known, so they honour the log level
    and logger being resolved even before ``log.apply`` runs.
    """
    config, warnings = resolve_quietly(options, environ)
    for message in warnings:
        log.config_warning(message, config)
    return config


def resolve_quietly(
    options: Optional[Options] = None, environ: Optional[Mapping[str, str]] = None
) -> Tuple[Config, List[str]]:
    """``resolve`` without emitting anything: the configuration and its warnings."""
    return _Resolver(options, os.environ if environ is None else environ).run()


# --- parsing -----------------------------------------------------------------------------------


class _Invalid(Exception):
    """A value failed to parse; the message says what was expected."""


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise _Invalid("expected true/false, 1/0, yes/no or on/off")


def _coerce_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return _parse_bool(value)
    raise _Invalid("expected a boolean")


def _parse_int(text: str) -> int:
    value = text.strip()
    if not value.isdigit() or not value.isascii():
        raise _Invalid("expected an integer number of milliseconds")
    return int(value)


def _coerce_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str):
            return _parse_int(value)
        raise _Invalid("expected an integer number of milliseconds")
    return value


def _positive_int(value: object) -> int:
    number = _coerce_int(value)
    if number <= 0:
        raise _Invalid("expected a positive integer number of milliseconds")
    return number


def _non_negative_int(value: object) -> int:
    number = _coerce_int(value)
    if number < 0:
        raise _Invalid("expected a non-negative integer number of milliseconds")
    return number


def _interval_ms(value: object) -> int:
    number = _coerce_int(value)
    if not 1 <= number <= 1000:
        raise _Invalid("expected an integer number of milliseconds from 1 to 1000")
    return number


def _percent(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise _Invalid("expected an integer percentage from 0 to 100")
    number = int(value) if isinstance(value, int) else _coerce_int(value.strip().rstrip("%"))
    if not 0 <= number <= 100:
        raise _Invalid("expected an integer percentage from 0 to 100")
    return number


def _stack_trace(value: object) -> str:
    if isinstance(value, str):
        level = value.strip().lower()
        for known in STACK_TRACE_LEVELS:
            if level == known:
                return known  # the constant itself: the wrapper compares by identity
    raise _Invalid("expected all, error or none")


def _stack_trace_length(value: object) -> int:
    if isinstance(value, str):
        value = value.strip()
    try:
        number = _coerce_int(value)
    except _Invalid:
        number = 0
    if number < 1:
        raise _Invalid("expected a positive integer number of frames")
    return min(number, MAX_STACK_TRACE_LENGTH)  # the official sensor's cap, silently as there


def _string(value: object) -> Optional[str]:
    if not isinstance(value, str):
        raise _Invalid("expected a string")
    return value.strip() or None


def _proxy(value: object) -> Optional[str]:
    """A proxy URL the transport can use (``http(s)://[user:password@]host[:port]``)."""
    from .transport.endpoint import EndpointError, parse_endpoint

    url = _string(value)
    if url is None:
        return None
    try:
        parse_endpoint(url, PROXY_VARIABLE, proxy=True)
    except EndpointError:
        # The reason quotes the URL: say it again about the URL without its credentials.
        try:
            parse_endpoint(mask_url_credentials(url), PROXY_VARIABLE, proxy=True)
        except EndpointError as exc:
            raise _Invalid(str(exc)) from None
        raise _Invalid("expected http(s)://[user:password@]host[:port]") from None
    return url


def _parse_level(value: object) -> int:
    if isinstance(value, str):
        level = _LEVELS.get(value.strip().lower())
        if level is not None:
            return level
    raise _Invalid("expected debug, info, warn or error")


def _split_names(text: str, sep: str) -> List[str]:
    return [item.strip().lower() for item in text.split(sep) if item.strip()]


def _names(value: object, sep: str) -> List[str]:
    if isinstance(value, str):
        return _split_names(value, sep)
    if isinstance(value, (list, tuple, set, frozenset)):
        names = []
        for item in value:
            if not isinstance(item, str):
                raise _Invalid("expected a sequence of strings")
            item = item.strip().lower()
            if item:
                names.append(item)
        return names
    raise _Invalid("expected a sequence of strings")


def _headers(value: object) -> Tuple[str, ...]:
    return tuple(dict.fromkeys(_names(value, ";")))


def _instrumentations(value: object) -> frozenset[str]:
    return frozenset(_names(value, ","))


def _parse_tags(text: str) -> dict[str, Optional[str]]:
    tags: dict[str, Optional[str]] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        key = key.strip()
        if not key:
            raise _Invalid("expected 'name=value,name' with non-empty names")
        tags[key] = value.strip() if sep else None
    return tags


def _coerce_tags(value: object) -> dict[str, Optional[str]]:
    if isinstance(value, str):
        return _parse_tags(value)
    if not isinstance(value, abc.Mapping):
        raise _Invalid("expected a mapping of names to strings or None")
    tags: dict[str, Optional[str]] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key.strip():
            raise _Invalid("expected non-empty string tag names")
        if item is not None and not isinstance(item, str):
            raise _Invalid("expected tag values that are strings or None")
        tags[key.strip()] = item
    return tags


def _secrets(value: object) -> SecretsMatcher:
    if isinstance(value, SecretsMatcher):
        return value
    if not isinstance(value, str):
        raise _Invalid("expected 'matcher:kw1,kw2' or a SecretsMatcher")
    try:
        return SecretsMatcher.parse(value)
    except ValueError as exc:
        raise _Invalid(str(exc)) from None


def _tracing_disable(text: str) -> Tuple[Optional[bool], frozenset[str]]:
    value = text.strip().lower()
    if value in _TRUE:
        return True, frozenset()
    if value in _FALSE:
        return False, frozenset()
    return None, frozenset(_split_names(value, ","))


def _kafka_header_format(value: object) -> str:
    if isinstance(value, str):
        name = value.strip().lower()
        if name in _KAFKA_HEADER_FORMATS:
            return name
    raise _Invalid("expected string, binary or both")


def _logger(value: object) -> Any:
    for method in ("warning", "isEnabledFor", "setLevel"):
        if not callable(getattr(value, method, None)):
            raise _Invalid("expected a logging.Logger")
    return value


class _Resolver:
    __slots__ = ("env", "names", "options", "warnings")

    def __init__(self, options: Optional[Options], env: Mapping[str, str]) -> None:
        self.options = options
        self.env = env
        # Most settings are unset: one pass over the names answers those without a look-up
        # (``os.environ.get`` of a missing name raises and catches a KeyError inside).
        self.names = frozenset(env)
        self.warnings: List[str] = []

    def _warn(self, name: str, value: object, reason: str, default: object) -> None:
        if name in (AGENT_KEY, "Options.agent_key"):
            shown = "(hidden)"
        else:
            shown = _shown(mask_url_credentials(value) if isinstance(value, str) else value)
        self.warnings.append(
            f"Invalid value for {name}: {shown} ({reason}); using the default {default!r}."
        )

    def _from_env(self, var: str, parse: Callable[[str], _T], default: Any) -> Optional[_T]:
        if var not in self.names:
            return None
        raw = self.env.get(var)
        if not raw or raw.isspace():
            return None
        try:
            return parse(raw)
        except _Invalid as exc:
            self._warn(var, raw, str(exc), default)
            return None

    def _from_option(self, attr: str, coerce: Callable[[Any], _T], default: Any) -> Optional[_T]:
        options = self.options
        if options is None:
            return None
        value = getattr(options, attr)
        if value is None:
            return None
        try:
            return coerce(value)
        except _Invalid as exc:
            self._warn(f"Options.{attr}", value, str(exc), default)
            return None

    def _setting(
        self,
        attr: str,
        var: str,
        coerce: Callable[[Any], _T],
        parse: Callable[[str], _T],
        default: _T,
    ) -> _T:
        """``var``/``Options.attr`` in the order its row in ``settings`` declares; an invalid
        value in the first place lets the second apply."""
        if settings.by_variable(var).env_wins:
            value = self._from_env(var, parse, default)
            if value is None:
                value = self._from_option(attr, coerce, default)
        else:
            value = self._from_option(attr, coerce, default)
            if value is None:
                value = self._from_env(var, parse, default)
        return default if value is None else value

    def _optional_string(self, attr: str, var: str) -> Optional[str]:
        return self._setting(attr, var, _string, _string, None)

    def span_filter(self) -> Optional[SpanFilter]:
        """The filter rules in force: the ``INSTANA_TRACING_FILTER_*`` variables, else the file
        named by ``INSTANA_CONFIG_PATH`` (read only when set), else ``Options.span_filters``;
        None when no exclude rule applies. What was not understood is warned about.

        ``span_filter`` is imported only when some rule source is set: not on a cold start
        without filters."""
        options_rules = self.options.span_filters if self.options is not None else None
        names = self.names
        if (
            options_rules is None
            and "INSTANA_CONFIG_PATH" not in names
            # One search of the joined names costs less than a startswith per name. A name
            # with a newline in it could only give a false "maybe": from_environ decides.
            and "\n" + settings.FILTER_PREFIX not in "\n" + "\n".join(names)
        ):
            return None
        from .span_filter import in_force

        found, problems = in_force(self.env, options_rules)
        self.warnings.extend(f"Span filter: {problem}." for problem in problems)
        return found

    def run(self) -> Tuple[Config, List[str]]:
        setting = self._setting
        no_tags: dict[str, Optional[str]] = {}

        agent_key = self._optional_string("agent_key", AGENT_KEY)

        # INSTANA_TRACING_DISABLE carries either the global switch or the instrumentation list.
        env_switch: Optional[bool] = None
        env_disabled: frozenset[str] = frozenset()
        raw_disable = self.env.get("INSTANA_TRACING_DISABLE")
        if raw_disable:
            env_switch, env_disabled = _tracing_disable(raw_disable)
        tracing_disabled = self._from_option("tracing_disabled", _coerce_bool, False)
        if tracing_disabled is None:
            tracing_disabled = bool(env_switch)
        disabled = self._from_option("disabled_instrumentations", _instrumentations, frozenset())
        if disabled is None:
            disabled = env_disabled

        # Environment wins for the log settings; a true INSTANA_DEBUG beats INSTANA_LOG_LEVEL,
        # and an environment level beats an in-code debug flag.
        env_debug = self._from_env("INSTANA_DEBUG", _parse_bool, False)
        env_level = self._from_env("INSTANA_LOG_LEVEL", _parse_level, "error")
        code_debug = self._from_option("debug", _coerce_bool, False)
        code_level = self._from_option("log_level", _parse_level, "error")
        debug = env_debug if env_debug is not None else bool(code_debug)
        if env_debug:
            log_level, explicit = DEBUG, True
        elif env_level is not None:
            log_level, explicit = env_level, True
        elif code_debug and env_debug is None:
            log_level, explicit = DEBUG, True
        elif code_level is not None:
            log_level, explicit = code_level, True
        else:
            log_level, explicit = DEFAULT_LOG_LEVEL, False

        timeout_ms = setting(
            "timeout_ms", "INSTANA_TIMEOUT", _positive_int, _positive_int, DEFAULT_TIMEOUT_MS
        )
        config = Config(
            endpoint_url=self._optional_string("endpoint_url", ENDPOINT_URL),
            agent_key=agent_key,
            timeout_s=timeout_ms / 1000.0,
            endpoint_proxy=setting("endpoint_proxy", PROXY_VARIABLE, _proxy, _proxy, None),
            disable_ca_check=setting(
                "disable_ca_check", "INSTANA_DISABLE_CA_CHECK", _coerce_bool, _parse_bool, False
            ),
            extra_http_headers=setting(
                "extra_http_headers", "INSTANA_EXTRA_HTTP_HEADERS", _headers, _headers, ()
            ),
            secrets=setting("secrets", "INSTANA_SECRETS", _secrets, _secrets, DEFAULT_SECRETS),
            zone=self._optional_string("zone", "INSTANA_ZONE"),
            tags=setting("tags", "INSTANA_TAGS", _coerce_tags, _parse_tags, no_tags),
            tracing_disabled=tracing_disabled,
            disabled_instrumentations=disabled,
            disable_w3c_trace_correlation=setting(
                "disable_w3c_trace_correlation",
                "INSTANA_DISABLE_W3C_TRACE_CORRELATION",
                _coerce_bool,
                _parse_bool,
                False,
            ),
            service_name=self._optional_string("service_name", "INSTANA_SERVICE_NAME"),
            process_name=self._optional_string("process_name", "INSTANA_PROCESS_NAME"),
            debug=debug,
            log_level=log_level,
            log_level_explicit=explicit,
            auto_profile=setting(
                "auto_profile", "INSTANA_AUTO_PROFILE", _coerce_bool, _parse_bool, False
            ),
            timeout_margin_ms=setting(
                "timeout_margin_ms",
                "INSTANA_LAMBDA_TIMEOUT_MARGIN_MS",
                _non_negative_int,
                _non_negative_int,
                DEFAULT_TIMEOUT_MARGIN_MS,
            ),
            lambda_extension=setting(
                "lambda_extension", "INSTANA_LAMBDA_EXTENSION", _coerce_bool, _parse_bool, True
            ),
            logger=self._from_option("logger", _logger, None),
            auto_profile_interval_ms=setting(
                "auto_profile_interval_ms",
                "INSTANA_AUTO_PROFILE_INTERVAL_MS",
                _interval_ms,
                _interval_ms,
                DEFAULT_PROFILE_INTERVAL_MS,
            ),
            auto_profile_min_ms=setting(
                "auto_profile_min_ms",
                "INSTANA_AUTO_PROFILE_MIN_MS",
                _non_negative_int,
                _non_negative_int,
                DEFAULT_PROFILE_MIN_MS,
            ),
            auto_profile_min_percent=setting(
                "auto_profile_min_percent",
                "INSTANA_AUTO_PROFILE_MIN_PERCENT",
                _percent,
                _percent,
                DEFAULT_PROFILE_MIN_PERCENT,
            ),
            cloud_run_cpu_always_allocated=setting(
                "cloud_run_cpu_always_allocated",
                "INSTANA_CLOUD_RUN_CPU_ALWAYS_ALLOCATED",
                _coerce_bool,
                _parse_bool,
                False,
            ),
            stack_trace=setting(
                "stack_trace",
                "INSTANA_STACK_TRACE",
                _stack_trace,
                _stack_trace,
                DEFAULT_STACK_TRACE,
            ),
            stack_trace_length=setting(
                "stack_trace_length",
                "INSTANA_STACK_TRACE_LENGTH",
                _stack_trace_length,
                _stack_trace_length,
                DEFAULT_STACK_TRACE_LENGTH,
            ),
            span_filter=self.span_filter(),
            ssm_param_name=self._optional_string("ssm_param_name", "INSTANA_SSM_PARAM_NAME"),
            ssm_decryption=setting(
                "ssm_decryption", "INSTANA_SSM_DECRYPTION", _coerce_bool, _parse_bool, False
            ),
            allow_exit_as_root=setting(
                "allow_exit_as_root",
                "INSTANA_ALLOW_EXIT_AS_ROOT",
                _coerce_bool,
                _parse_bool,
                False,
            ),
            kafka_header_format=setting(
                "kafka_header_format",
                "INSTANA_KAFKA_HEADER_FORMAT",
                _kafka_header_format,
                _kafka_header_format,
                DEFAULT_KAFKA_HEADER_FORMAT,
            ),
            kafka_trace_correlation=setting(
                "kafka_trace_correlation",
                "INSTANA_KAFKA_TRACE_CORRELATION",
                _coerce_bool,
                _parse_bool,
                True,
            ),
        )
        # The key pasted into the wrong variable must not leak through its warning.
        warnings = [
            message.replace(agent_key, "***") if agent_key else message for message in self.warnings
        ]
        return config, warnings
