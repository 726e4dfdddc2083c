"""Every setting the library reads, one row each: the one place a setting is declared.

``Options`` (its fields), the resolver in ``config`` (which variables it reads), the doctor (what
it lists and which names it knows) and the README's configuration table are all checked against
these rows by ``tests/test_settings.py``; ``python docs/tables.py --write`` regenerates the README
table from them. Data only: nothing here is imported on a cold start except the names.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, Tuple


class Setting:
    """One setting: its environment variable and/or ``Options`` fields, and how it is shown."""

    __slots__ = ("default", "env_wins", "meaning", "options", "unset_note", "variable")

    def __init__(
        self,
        variable: str,
        options: Tuple[str, ...],
        default: str,
        meaning: str,
        *,
        env_wins: bool = False,
        unset_note: str = "",
    ) -> None:
        self.variable = variable  # "" for a setting made in code only
        self.options = options  # the ``Options`` fields it corresponds to, if any
        self.default = default  # what applies when unset, as the README shows it
        self.meaning = meaning
        self.env_wins = env_wins  # the environment beats ``Options`` (operators change it)
        self.unset_note = unset_note  # what the doctor says when it is unset; "" to stay quiet


REQUIRED = "— (required)"
# A family of variables, one per rule (``settings.is_filter_variable`` recognises its members).
FILTER_VARIABLES = "INSTANA_TRACING_FILTER_<POLICY>_<NAME>_ATTRIBUTES"
FILTER_PREFIX = "INSTANA_TRACING_FILTER_"

SETTINGS: Tuple[Setting, ...] = (
    Setting(
        "INSTANA_ENDPOINT_URL",
        ("endpoint_url",),
        REQUIRED,
        "backend URL; `/bundle` is appended, a base path is kept. `https://` required except "
        "for loopback hosts",
    ),
    Setting(
        "INSTANA_AGENT_KEY",
        ("agent_key",),
        REQUIRED,
        "sent as `X-Instana-Key`; never logged, never in a span, masked in the process snapshot",
    ),
    Setting(
        "INSTANA_TIMEOUT",
        ("timeout_ms",),
        "`500`",
        "milliseconds one flush may take at most",
        unset_note="500 ms per request to the backend",
    ),
    Setting(
        "INSTANA_ENDPOINT_PROXY",
        ("endpoint_proxy",),
        "—",
        "`http(s)://[user:password@]proxy:port`; https goes through a CONNECT tunnel; an invalid "
        "one is reported (credentials masked) and requests go direct",
    ),
    Setting(
        "INSTANA_DISABLE_CA_CHECK",
        ("disable_ca_check",),
        "`false`",
        "only a true value disables certificate checks",
    ),
    Setting(
        "INSTANA_EXTRA_HTTP_HEADERS",
        ("extra_http_headers",),
        "—",
        "`;`-separated request/response headers to capture, case-insensitive",
    ),
    Setting(
        "INSTANA_SECRETS",
        ("secrets",),
        "`contains-ignore-case:key,pass,secret`",
        "`matcher:kw1,kw2`, matcher one of `equals-ignore-case`, `equals`, "
        "`contains-ignore-case`, `contains`, `regex`",
        unset_note="contains-ignore-case:key,pass,secret",
    ),
    Setting(
        "INSTANA_SERVICE_NAME",
        ("service_name",),
        "—",
        "service name put on entry spans",
        env_wins=True,
        unset_note="the platform's name for the function or service",
    ),
    Setting(
        "INSTANA_PROCESS_NAME",
        ("process_name",),
        "program name",
        "process name in the runtime snapshot",
        env_wins=True,
    ),
    Setting("INSTANA_ZONE", ("zone",), "—", "zone of the Fargate task"),
    Setting("INSTANA_TAGS", ("tags",), "—", "`a=b,c` tags of the Fargate task"),
    Setting(
        "INSTANA_TRACING_DISABLE",
        ("tracing_disabled", "disabled_instrumentations"),
        "`false`",
        "`true` turns tracing off; a list of libraries (`requests,boto3`) or categories (`http`, "
        "`databases`, `messaging`, `aws`, `logging`, `frameworks`) turns off those "
        "instrumentations",
        unset_note="all tracing on",
    ),
    Setting(
        "INSTANA_DISABLE_W3C_TRACE_CORRELATION",
        ("disable_w3c_trace_correlation",),
        "`false`",
        "ignore an incoming `traceparent` when continuing traces",
    ),
    Setting(
        "INSTANA_KAFKA_HEADER_FORMAT",
        ("kafka_header_format",),
        "`string`",
        "Kafka record headers our producers write: `string` (`x_instana_t`, `x_instana_s`, "
        "`x_instana_l_s`), `binary` (the legacy `X_INSTANA_C` / `X_INSTANA_L`) or `both`; "
        "consumers read either",
        env_wins=True,
        unset_note="string",
    ),
    Setting(
        "INSTANA_KAFKA_TRACE_CORRELATION",
        ("kafka_trace_correlation",),
        "`true`",
        "`false`: Kafka producers add no trace headers and consumers ignore them",
        env_wins=True,
    ),
    Setting(
        "INSTANA_DEBUG",
        ("debug",),
        "`false`",
        "debug logging (beats `INSTANA_LOG_LEVEL`)",
        env_wins=True,
    ),
    Setting(
        "INSTANA_LOG_LEVEL",
        ("log_level",),
        "`error`",
        "`debug`, `info`, `warn`, `error`",
        env_wins=True,
        unset_note="error",
    ),
    Setting(
        "INSTANA_AUTO_PROFILE",
        ("auto_profile",),
        "`false`",
        "AutoProfile: stack sampler, inferred spans and profiles (`docs/PROFILING.md`)",
        env_wins=True,
        unset_note="AutoProfile off",
    ),
    Setting(
        "INSTANA_AUTO_PROFILE_INTERVAL_MS",
        ("auto_profile_interval_ms",),
        "`10`",
        "AutoProfile: milliseconds between two stack samples (1 to 1000)",
    ),
    Setting(
        "INSTANA_AUTO_PROFILE_MIN_MS",
        ("auto_profile_min_ms",),
        "`20`",
        "AutoProfile: a call becomes an inferred span only when it lasted this long…",
    ),
    Setting(
        "INSTANA_AUTO_PROFILE_MIN_PERCENT",
        ("auto_profile_min_percent",),
        "`10`",
        "AutoProfile: … and this share (0 to 100 %) of its invocation",
    ),
    Setting(
        "INSTANA_LAMBDA_TIMEOUT_MARGIN_MS",
        ("timeout_margin_ms",),
        "`200`",
        "Lambda: end and send the span this long before the deadline (`0` disables)",
    ),
    Setting(
        "INSTANA_LAMBDA_EXTENSION",
        ("lambda_extension",),
        "`true`",
        "Lambda: send spans after the response from an internal extension (see "
        "`docs/LAMBDA_EXTENSION.md`); `false` flushes them before the handler returns",
        unset_note="on: on Lambda, spans are sent after the response",
    ),
    Setting(
        "INSTANA_CLOUD_RUN_CPU_ALWAYS_ALLOCATED",
        ("cloud_run_cpu_always_allocated",),
        "`false`",
        "Cloud Run: `true` for a service whose CPU is always allocated (instance-based billing, "
        "`--no-cpu-throttling`): spans are sent from a background thread after the response "
        "instead of before its last byte",
        unset_note="off: on Cloud Run, each response waits for its spans' send",
    ),
    Setting(
        "INSTANA_STACK_TRACE",
        ("stack_trace",),
        "`all`",
        "call stack on exit spans: `all`, `error` (only exits that failed) or `none`",
        env_wins=True,
        unset_note="all: every exit span carries the caller's stack",
    ),
    Setting(
        "INSTANA_STACK_TRACE_LENGTH",
        ("stack_trace_length",),
        "`30`",
        "frames per exit span's stack (more than 40 counts as 40, as official); the user's "
        "calling line is always kept",
        env_wins=True,
    ),
    Setting(
        "INSTANA_ALLOW_EXIT_AS_ROOT",
        ("allow_exit_as_root",),
        "`false`",
        "send an exit span made outside any entry (a script's database call) as a root span; "
        "it leaves with the next flush, or at interpreter exit",
    ),
    Setting(
        FILTER_VARIABLES,
        ("span_filters",),
        "—",
        "span filter rules as the official sensor reads them, `<POLICY>` `EXCLUDE` or "
        "`INCLUDE` (an include rule beats exclude rules): conditions `key;value1,value2"
        "[;match_type]`, several joined by a vertical bar, all of which must hold "
        "(`redis.command;GET`, `http.path;/health`, `category;databases`); an excluded span "
        "takes what runs below it along unless `INSTANA_TRACING_FILTER_EXCLUDE_<NAME>_"
        "SUPPRESSION=false`",
        env_wins=True,
    ),
    Setting(
        "INSTANA_CONFIG_PATH",
        ("span_filters",),
        "—",
        "a YAML file whose `tracing.filter` section holds filter rules (read only when set; "
        "without a YAML library, a documented subset of YAML)",
        env_wins=True,
    ),
    Setting(
        "INSTANA_SSM_PARAM_NAME",
        ("ssm_param_name",),
        "—",
        "Lambda: read the agent key from this SSM Parameter Store parameter (in the background "
        "during init, signed with the function role's credentials); `INSTANA_AGENT_KEY` wins",
    ),
    Setting(
        "INSTANA_SSM_DECRYPTION",
        ("ssm_decryption",),
        "`false`",
        "Lambda: `true` for a `SecureString` parameter (decrypted by SSM; the role needs "
        "`kms:Decrypt`)",
    ),
    Setting(
        "",
        ("logger",),
        "our own `instana_serverless` logger",
        "a `logging.Logger` of yours to log to (in code only)",
    ),
)

# Read outside ``config`` by the part of the library that needs them (not ``Options``).
OTHER_VARIABLES: Tuple[Setting, ...] = (
    Setting("LAMBDA_HANDLER", (), "—", "layer only: your original handler"),
    Setting(
        "AWS_ENDPOINT_URL_SSM",
        (),
        "`https://ssm.<AWS_REGION>.amazonaws.com`",
        "Lambda, with `INSTANA_SSM_PARAM_NAME`: the SSM endpoint (then `AWS_ENDPOINT_URL`), as "
        "the AWS SDKs read it: a VPC endpoint, or a local emulator",
    ),
    Setting(
        "INSTANA_GCP_METADATA_HOST",
        (),
        "`metadata.google.internal`",
        "Cloud Run metadata server as `host[:port]` (tests, emulators); first of three",
    ),
    Setting(
        "GCE_METADATA_HOST",
        (),
        "—",
        "second: `host[:port]`, the variable Google's client libraries read",
    ),
    Setting(
        "GOOGLE_CLOUD_RUN_METADATA_ENDPOINT",
        (),
        "—",
        "third: a URL (`http://127.0.0.1:8080`), the variable the official Instana sensors read",
    ),
)


# Settings only one platform's code reads (values of ``platform.ALL``); anywhere else they do
# nothing, and the doctor says so.
READ_ONLY_ON: Dict[str, str] = {
    "INSTANA_ZONE": "aws.fargate",
    "INSTANA_TAGS": "aws.fargate",
    "INSTANA_LAMBDA_TIMEOUT_MARGIN_MS": "aws.lambda",
    "INSTANA_LAMBDA_EXTENSION": "aws.lambda",
    "INSTANA_CLOUD_RUN_CPU_ALWAYS_ALLOCATED": "gcp.cloud_run",
    "INSTANA_GCP_METADATA_HOST": "gcp.cloud_run",
    "GCE_METADATA_HOST": "gcp.cloud_run",
    "GOOGLE_CLOUD_RUN_METADATA_ENDPOINT": "gcp.cloud_run",
}


_by_variable: Dict[str, Setting] = {}


def by_variable(variable: str) -> Setting:
    """The row of ``variable`` (a ``KeyError`` names a variable nobody declared)."""
    if not _by_variable:  # built on first use: configure looks up every setting, once each
        for row in (*SETTINGS, *OTHER_VARIABLES):
            _by_variable.setdefault(row.variable, row)
    return _by_variable[variable]


def variables() -> Tuple[str, ...]:
    """Every environment variable the library reads, in table order."""
    return tuple(row.variable for row in (*SETTINGS, *OTHER_VARIABLES) if row.variable)


def is_filter_variable(name: str) -> bool:
    """A member of the span filter family (``INSTANA_TRACING_FILTER_*``)."""
    return name.startswith(FILTER_PREFIX)


def env_wins() -> Tuple[str, ...]:
    """The variables that beat an in-code ``Options`` value."""
    return tuple(row.variable for row in SETTINGS if row.env_wins)


__all__ = [
    "FILTER_PREFIX",
    "FILTER_VARIABLES",
    "OTHER_VARIABLES",
    "READ_ONLY_ON",
    "SETTINGS",
    "Setting",
    "by_variable",
    "env_wins",
    "is_filter_variable",
    "variables",
]
