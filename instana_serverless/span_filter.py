"""Span filtering rules, as the official Python sensor reads them: which spans are not sent.

Sources (the first that has rules wins; docs/CONTRACT.md §2):

1. ``INSTANA_TRACING_FILTER_<EXCLUDE|INCLUDE>_<NAME>_ATTRIBUTES`` =
   ``key;value1,value2[;match_type]|key;...`` (every condition must hold), and
   ``INSTANA_TRACING_FILTER_EXCLUDE_<NAME>_SUPPRESSION`` = ``true|false`` (default true);
2. the ``tracing.filter`` section (``com.instana.tracing.filter`` as the deprecated spelling)
   of the YAML file named by ``INSTANA_CONFIG_PATH``: ``deactivate``, ``exclude`` and
   ``include`` lists of ``{name, suppression, attributes: [{key, values, match_type}]}``;
3. ``Options(span_filters=...)``, a mapping of that same section's shape.

What a rule's keys mean for our spans:

- ``type``: the span's name (``redis``, ``postgres``, ``aws.lambda.entry``, ``wsgi``) or one
  of its data sections (``redis``, ``http``, ``lambda``);
- ``kind``: ``entry``, ``exit`` or ``intermediate``;
- ``category``: ``databases``, ``messaging``, ``protocols`` or ``logging`` (the official
  categories), from the span's name;
- ``<section>.<key>``: a value of the span's data (``redis.command``, ``http.path``,
  ``http.url``, ``http.method``, ``pg.stmt``); ``http.target`` (the official examples' name
  for the request path) reads ``http.path``, else ``http.url``.

``match_type`` is ``strict`` (default), ``contains``, ``startswith`` or ``endswith``; a value
``*`` matches anything. An include rule that matches keeps a span whatever exclude rules say.

When a rule is applied:

- when a span starts, with the data it starts with: an exclude rule with ``suppression``
  (the default) that matches then drops the span **and everything below it** -- an entry's
  whole trace, and for an exit the downstream service too (``X-INSTANA-L: 0`` is sent on);
- when a span ends, with all its data: a matching exclude rule drops that span alone.
"""

from __future__ import annotations

from collections import abc

from .settings import FILTER_PREFIX as PREFIX
from .span import KIND_NAMES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Tuple, Union

    from .span import Span

MATCH_TYPES = ("strict", "contains", "startswith", "endswith")
SPECIAL_KEYS = ("type", "kind", "category")

# The official categories, for our span names.
CATEGORIES = {
    "databases": frozenset(("redis", "postgres", "mysql", "mongo", "sqlalchemy", "dynamodb")),
    "messaging": frozenset(("sqs", "sns", "kafka", "rabbitmq", "gcps")),
    "protocols": frozenset(
        (
            "urllib3",
            "http",
            "aiohttp-client",
            "wsgi",
            "asgi",
            "grpc",
            "graphql",
            "aws.lambda.entry",
            "azf",
        )
    ),
    "logging": frozenset(("log",)),
}


class Condition:
    """One ``{key, values, match_type}``: holds when the span's value for ``key`` matches
    one of ``values``."""

    __slots__ = ("key", "match_type", "values")

    def __init__(self, key: str, values: Tuple[str, ...], match_type: str) -> None:
        self.key = key
        self.values = values
        self.match_type = match_type

    def __repr__(self) -> str:
        values = ",".join(self.values)
        return f"{self.key};{values};{self.match_type}"


class Rule:
    __slots__ = ("conditions", "name", "policy", "suppression")

    def __init__(
        self, policy: str, name: str, conditions: Tuple[Condition, ...], suppression: bool
    ) -> None:
        self.policy = policy  # "exclude" or "include"
        self.name = name
        self.conditions = conditions
        self.suppression = suppression and policy == "exclude"

    def describe(self) -> str:
        conditions = " and ".join(repr(c) for c in self.conditions)
        extra = " (with downstream suppression)" if self.suppression else ""
        return f"{self.policy} {self.name!r}: {conditions}{extra}"


class SpanFilter:
    """The rules in force, and what was not understood (for the doctor and one warning)."""

    __slots__ = ("exclude", "include", "problems", "source")

    def __init__(
        self,
        exclude: Sequence[Rule] = (),
        include: Sequence[Rule] = (),
        problems: Sequence[str] = (),
        source: str = "",
    ) -> None:
        self.exclude = tuple(exclude)
        self.include = tuple(include)
        self.problems = tuple(problems)
        self.source = source

    @property
    def active(self) -> bool:
        return bool(self.exclude)

    def rules(self) -> Tuple[Rule, ...]:
        return self.include + self.exclude

    def describe(self) -> str:
        return "; ".join(rule.describe() for rule in self.rules())

    def __repr__(self) -> str:
        return f"SpanFilter({self.describe()!r})"

    # -- matching ---------------------------------------------------------------------------

    def _excluding(self, name: str, kind: int, data: Optional[Dict[str, Any]]) -> Optional[Rule]:
        if not self.exclude:
            return None
        for rule in self.include:
            if _matches(rule, name, kind, data):
                return None
        for rule in self.exclude:
            if _matches(rule, name, kind, data):
                return rule
        return None

    def suppresses(self, name: str, kind: int, data: Optional[Dict[str, Any]]) -> bool:
        """At a span's start: an exclude rule with suppression drops it and all below it."""
        rule = self._excluding(name, kind, data)
        return rule is not None and rule.suppression

    def drops(self, span: Span) -> bool:
        """At a span's end, with all its data: an exclude rule drops this span."""
        return self._excluding(span.name, span.kind, span.data) is not None


def _matches(rule: Rule, name: str, kind: int, data: Optional[Dict[str, Any]]) -> bool:
    for condition in rule.conditions:  # noqa: SIM110  (no generator on every span end)
        if not _holds(condition, name, kind, data or {}):
            return False
    return True


def _value_matches(actual: Any, condition: Condition) -> bool:
    if isinstance(actual, bool) or not isinstance(actual, (str, int, float)):
        return False
    text = str(actual)
    match_type = condition.match_type
    for wanted in condition.values:
        if wanted == "*":
            return True
        if match_type == "strict":
            if text == wanted:
                return True
        elif match_type == "contains":
            if wanted in text:
                return True
        elif match_type == "startswith":
            if text.startswith(wanted):
                return True
        elif text.endswith(wanted):
            return True
    return False


def _holds(condition: Condition, name: str, kind: int, data: Dict[str, Any]) -> bool:
    key = condition.key
    if key == "type":
        types = [name, *(section for section, v in data.items() if isinstance(v, dict))]
        sdk = data.get("sdk")
        if name == "sdk" and isinstance(sdk, dict) and isinstance(sdk.get("name"), str):
            types.append(sdk["name"])  # a custom span is known by the name its code gave it
        return any(_value_matches(t, condition) for t in types)
    if key == "kind":
        return _value_matches(KIND_NAMES.get(kind, "intermediate"), condition)
    if key == "category":
        return any(
            name in names and _value_matches(category, condition)
            for category, names in CATEGORIES.items()
        )
    section, _, field = key.partition(".")
    values = data.get(section)
    if not field or not isinstance(values, dict):
        return False
    if section == "http" and field == "target":
        actual = values.get("path", values.get("url"))
    else:
        actual = values.get(field)
    return actual is not None and _value_matches(actual, condition)


# -- reading rules ---------------------------------------------------------------------------


def _condition(key: Any, values: Any, match_type: Any, where: str, problems: List[str]) -> Any:
    if not isinstance(key, str) or not key.strip():
        problems.append(f"{where}: an attribute without a key")
        return None
    key = key.strip()
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, (list, tuple)) or not values:
        problems.append(f"{where}: attribute {key!r} needs a list of values")
        return None
    texts = tuple(str(v).strip() for v in values if str(v).strip())
    if not texts:
        problems.append(f"{where}: attribute {key!r} needs a list of values")
        return None
    match = "strict" if match_type is None else str(match_type).strip().lower()
    if match not in MATCH_TYPES:
        problems.append(
            f"{where}: match_type {match_type!r} of {key!r} is not one of {', '.join(MATCH_TYPES)}"
        )
        return None
    if key not in SPECIAL_KEYS and "." not in key:
        problems.append(
            f"{where}: key {key!r} is neither type, kind, category nor <section>.<key> "
            "(e.g. redis.command, http.path)"
        )
        return None
    return Condition(key, texts, match)


def _truthy(value: Any) -> Optional[bool]:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "0", "no", "off"):
        return False
    return None


def from_environ(environ: Mapping[str, str]) -> Optional[SpanFilter]:
    """Rules from ``INSTANA_TRACING_FILTER_*``; None when none of those variables is set."""
    names = sorted(name for name in environ if name.startswith(PREFIX) and environ[name].strip())
    if not names:
        return None
    problems: List[str] = []
    attributes: Dict[Tuple[str, str], List[Condition]] = {}
    broken: Set[Tuple[str, str]] = set()  # a rule missing a condition would match too much
    suppression: Dict[str, bool] = {}
    for variable in names:
        rest = variable[len(PREFIX) :]
        policy, _, tail = rest.partition("_")
        name, _, suffix = tail.rpartition("_")
        policy = policy.lower()
        if policy not in ("exclude", "include") or not name:
            problems.append(
                f"{variable}: expected INSTANA_TRACING_FILTER_<EXCLUDE|INCLUDE>_<NAME>_ATTRIBUTES"
            )
            continue
        value = environ[variable]
        if suffix == "ATTRIBUTES":
            conditions = attributes.setdefault((policy, name), [])
            for part in value.split("|"):
                if not part.strip():
                    continue
                pieces = part.split(";")
                if len(pieces) < 2 or len(pieces) > 3:
                    problems.append(f"{variable}: {part!r} is not key;values[;match_type]")
                    broken.add((policy, name))
                    continue
                condition = _condition(
                    pieces[0],
                    [v for v in pieces[1].split(",") if v.strip()],
                    pieces[2] if len(pieces) == 3 else None,
                    variable,
                    problems,
                )
                if condition is None:
                    broken.add((policy, name))
                else:
                    conditions.append(condition)
        elif suffix == "SUPPRESSION" and policy == "exclude":
            flag = _truthy(value)
            if flag is None:
                problems.append(f"{variable}: expected true or false")
            else:
                suppression[name] = flag
        else:
            problems.append(
                f"{variable}: expected a name ending in _ATTRIBUTES (or _SUPPRESSION for "
                "an exclude rule)"
            )
    rules: Dict[str, List[Rule]] = {"exclude": [], "include": []}
    for (policy, name), conditions in attributes.items():
        if (policy, name) in broken:
            problems.append(f"{PREFIX}{policy.upper()}_{name}_ATTRIBUTES: the rule is ignored")
        elif conditions:
            rules[policy].append(Rule(policy, name, tuple(conditions), suppression.get(name, True)))
        else:
            problems.append(
                f"{PREFIX}{policy.upper()}_{name}_ATTRIBUTES: no usable condition, the rule is "
                "ignored"
            )
    for name in suppression:
        if ("exclude", name) not in attributes:
            problems.append(f"{PREFIX}EXCLUDE_{name}_SUPPRESSION: no such exclude rule")
    return SpanFilter(rules["exclude"], rules["include"], problems, "environment")


def from_section(section: Any, source: str) -> SpanFilter:
    """Rules from a ``tracing.filter`` mapping (the YAML file's, or ``Options``)."""
    problems: List[str] = []
    rules: Dict[str, List[Rule]] = {"exclude": [], "include": []}
    if not isinstance(section, dict):
        return SpanFilter((), (), [f"{source}: the filter section must be a mapping"], source)
    if _truthy(section.get("deactivate")):
        return SpanFilter((), (), (), source)
    for key in section:
        if key not in ("deactivate", "exclude", "include"):
            problems.append(f"{source}: {key!r} is not exclude, include or deactivate")
    for policy in ("exclude", "include"):
        items = section.get(policy) or []
        if not isinstance(items, list):
            problems.append(f"{source}: {policy} must be a list of rules")
            continue
        for index, item in enumerate(items):
            where = f"{source}: {policy}[{index}]"
            if not isinstance(item, dict):
                problems.append(f"{where}: a rule must be a mapping")
                continue
            name = str(item.get("name") or "unnamed")
            where = f"{source}: {policy} {name!r}"
            flag = _truthy(item.get("suppression", True))
            if flag is None:
                problems.append(f"{where}: suppression must be true or false")
                flag = True
            conditions = []
            raw = item.get("attributes")
            if not isinstance(raw, list) or not raw:
                problems.append(f"{where}: attributes must be a non-empty list")
                continue
            for attribute in raw:
                if not isinstance(attribute, dict):
                    problems.append(f"{where}: an attribute must be a mapping")
                    continue
                condition = _condition(
                    attribute.get("key"),
                    attribute.get("values"),
                    attribute.get("match_type"),
                    where,
                    problems,
                )
                if condition is not None:
                    conditions.append(condition)
            if len(conditions) == len(raw):
                rules[policy].append(Rule(policy, name, tuple(conditions), flag))
            else:  # a rule with a condition dropped would match more than was meant
                problems.append(f"{where}: the rule is ignored")
    return SpanFilter(rules["exclude"], rules["include"], problems, source)


def from_file(path: str) -> SpanFilter:
    """Rules from the ``tracing.filter`` section of the YAML file at ``path``."""
    from .yaml_subset import YamlError, load_file

    source = f"INSTANA_CONFIG_PATH ({path})"
    try:
        document = load_file(path)
    except (OSError, UnicodeDecodeError) as exc:
        return SpanFilter((), (), [f"{source}: cannot read the file: {exc}"], source)
    except YamlError as exc:
        return SpanFilter((), (), [f"{source}: {exc}"], source)
    if document is None:
        return SpanFilter((), (), (), source)
    if not isinstance(document, dict):
        return SpanFilter((), (), [f"{source}: the file must hold a mapping"], source)
    tracing = document.get("tracing")
    if tracing is None:
        tracing = document.get("com.instana.tracing")
    if tracing is None:
        return SpanFilter((), (), (), source)
    if not isinstance(tracing, dict):
        return SpanFilter((), (), [f"{source}: tracing must be a mapping"], source)
    section = tracing.get("filter")
    if section is None:
        return SpanFilter((), (), (), source)
    return from_section(section, source)


def in_force(
    environ: Mapping[str, str], options_rules: Union[Mapping[str, Any], SpanFilter, None]
) -> Tuple[Optional[SpanFilter], List[str]]:
    """The rules in force and what was not understood in them: the ``INSTANA_TRACING_FILTER_*``
    variables, else the file named by ``INSTANA_CONFIG_PATH`` (read only when set), else
    ``Options.span_filters``; None when no exclude rule applies (config's resolver)."""
    found = from_environ(environ)
    if found is None:
        path = (environ.get("INSTANA_CONFIG_PATH") or "").strip()
        if path:
            found = from_file(path)
            if not found.rules() and not found.problems:
                found = None
    if found is None and options_rules is not None:
        if isinstance(options_rules, SpanFilter):
            found = options_rules
        else:
            found = from_section(
                dict(options_rules) if isinstance(options_rules, abc.Mapping) else options_rules,
                "Options.span_filters",
            )
    if found is None:
        return None, []
    return (found if found.active else None), list(found.problems)
