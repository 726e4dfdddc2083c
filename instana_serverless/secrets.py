"""Secret-name matching and masking (``INSTANA_SECRETS``).

``is_secret`` and ``mask_query`` run on every traced request, so all the work that does not
depend on the name (lower-casing keywords, compiling regexes, choosing the comparison) is done
once in the constructor. ``re`` is only imported when a ``regex`` matcher is built, to keep
``import instana_serverless`` cheap.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable, Mapping, Sequence


MASK = "<redacted>"

MODES = ("equals-ignore-case", "equals", "contains-ignore-case", "contains", "regex")


class SecretsMatcher:
    """Decides whether a parameter / header / variable name denotes a secret.

    Modes: ``equals-ignore-case``, ``equals``, ``contains-ignore-case``, ``contains`` and
    ``regex`` (each keyword is a case-sensitive regular expression that must match the whole
    name). Ignore-case modes compare case-folded text on both sides.
    """

    __slots__ = ("_predicate", "keywords", "mode")

    mode: str
    keywords: tuple[str, ...]
    _predicate: Callable[[str], bool]

    def __init__(self, mode: str, keywords: Sequence[str]) -> None:
        if mode not in MODES:
            raise ValueError(
                f"unknown secrets matcher {mode!r}; expected one of {', '.join(MODES)}"
            )
        if isinstance(keywords, str):
            # A bare string is a Sequence[str] too; iterating its characters is never meant.
            keywords = (keywords,)
        words = tuple(keywords)
        if not words:
            raise ValueError(f"secrets matcher {mode!r} needs at least one keyword")
        for word in words:
            if not isinstance(word, str) or not word:
                raise ValueError(f"invalid secrets keyword {word!r}: must be a non-empty string")
        self.mode = mode
        self.keywords = words
        self._predicate = _build_predicate(mode, words)

    @classmethod
    def parse(cls, text: str) -> SecretsMatcher:
        """Parse the ``INSTANA_SECRETS`` form ``matcher:kw1,kw2``.

        Only the first ``:`` separates the matcher, so regex keywords may contain ``:``;
        they cannot contain ``,`` (the separator), as with the official sensors. Blank
        keywords are dropped. Raises ``ValueError`` on anything invalid.
        """
        if not isinstance(text, str):
            raise ValueError(f"secrets specification must be a string, not {type(text).__name__}")
        mode, sep, rest = text.partition(":")
        if not sep:
            raise ValueError(f"invalid secrets specification {text!r}: expected 'matcher:kw1,kw2'")
        mode = mode.strip().lower()
        words = [word.strip() for word in rest.split(",")]
        return cls(mode, [word for word in words if word])

    def is_secret(self, name: str) -> bool:
        """True when ``name`` matches one of the keywords under this matcher's mode."""
        return self._predicate(name)

    def mask_query(self, query: str) -> str:
        """Replace the values of secret parameters in a URL query string with ``MASK``.

        Order, repeated keys, empty values and keys without ``=`` are kept, as is a leading
        ``?``; names are compared after percent-decoding (``+`` is a space), but the text is
        otherwise left exactly as sent. A secret with an empty value is masked too, so the
        report does not reveal that it was empty.
        """
        if "=" not in query:
            return query
        prefix = ""
        if query.startswith("?"):
            prefix, query = "?", query[1:]
        predicate = self._predicate
        parts = query.split("&")
        changed = False
        for index, part in enumerate(parts):
            key, sep, _ = part.partition("=")
            if not sep:
                continue
            if "%" in key or "+" in key:
                key = _unquote(key)
            if predicate(key):
                parts[index] = f"{part[: part.index('=')]}={MASK}"
                changed = True
        if not changed:
            return prefix + query
        return prefix + "&".join(parts)

    def mask_mapping(self, mapping: Mapping[str, str]) -> dict[str, str]:
        """A copy of ``mapping`` with the values of secret keys replaced by ``MASK``."""
        predicate = self._predicate
        return {key: MASK if predicate(key) else value for key, value in mapping.items()}

    def __repr__(self) -> str:
        return f"SecretsMatcher({self.mode!r}, {list(self.keywords)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretsMatcher):
            return NotImplemented
        return self.mode == other.mode and self.keywords == other.keywords

    def __hash__(self) -> int:
        return hash((self.mode, self.keywords))


# Characters that end a URL's authority (RFC 3986), plus blanks and the separators a URL
# embedded in a longer value (a connection list, a command line) is followed by.
_AUTHORITY_END = frozenset("/?#,;'\"<>")


def mask_url_credentials(text: str) -> str:
    """``text`` with the user information of every URL in it masked.

    ``postgres://user:pw@db:5432/app`` becomes ``postgres://<redacted>@db:5432/app``; host,
    port and path stay readable. Works on values holding several URLs or other text too.
    """
    if "@" not in text or "://" not in text:
        return text
    pieces: list[str] = []
    position = 0
    while True:
        found = text.find("://", position)
        if found < 0:
            break
        start = found + 3
        end = start
        while end < len(text) and text[end] not in _AUTHORITY_END and not text[end].isspace():
            end += 1
        at = text.rfind("@", start, end)
        if at > start:
            pieces.append(text[position:start])
            pieces.append(MASK)
            position = at
        else:
            pieces.append(text[position:end])
            position = end
    pieces.append(text[position:])
    return "".join(pieces)


# Headers whose value is a credential however they are named: only the scheme is kept.
_AUTHORIZATION_HEADERS = frozenset(("authorization", "proxy-authorization"))


def mask_header(name: str, value: str, matcher: SecretsMatcher) -> str:
    """A captured header's value as it may be recorded.

    Names the secrets matcher matches (``X-Api-Key``) are masked; ``Authorization`` and
    ``Proxy-Authorization`` keep only their scheme (``Bearer <redacted>``); ``Cookie`` and
    ``Set-Cookie`` only the cookie names; credentials in URLs are masked everywhere.
    """
    lowered = name.lower()
    if lowered in _AUTHORIZATION_HEADERS:
        scheme, blank, _ = value.strip().partition(" ")
        return f"{scheme} {MASK}" if blank else MASK
    if lowered == "cookie":
        return _cookie_names(value.split(";"))
    if lowered == "set-cookie":
        # Several Set-Cookie values may arrive joined by ","; an Expires date has one too,
        # but its second half carries no "name=" before its first ";".
        return _cookie_names(part.partition(";")[0] for part in value.split(","))
    # Header names are case-insensitive; a case-sensitive matcher may have either spelling.
    if matcher.is_secret(name) or (lowered != name and matcher.is_secret(lowered)):
        return MASK
    return mask_url_credentials(value)


def _cookie_names(pairs: Iterable[str]) -> str:
    names = []
    for pair in pairs:
        cookie, equals, _ = pair.partition("=")
        cookie = cookie.strip()
        if equals and cookie and " " not in cookie:
            names.append(f"{cookie}={MASK}")
    return "; ".join(names) or MASK


def _unquote(text: str) -> str:
    from urllib.parse import unquote_plus  # lazy: keeps urllib off the import path

    return unquote_plus(text)


def _build_predicate(mode: str, words: tuple[str, ...]) -> Callable[[str], bool]:
    if mode == "equals-ignore-case":
        folded = frozenset(word.casefold() for word in words)
        return lambda name: name.casefold() in folded
    if mode == "equals":
        exact = frozenset(words)
        return lambda name: name in exact
    if mode == "contains-ignore-case":
        folded_words = tuple(word.casefold() for word in words)

        # Plain loops rather than any(<genexpr>): measurably faster on this per-request path.
        def contains_folded(name: str) -> bool:
            name = name.casefold()
            for word in folded_words:  # noqa: SIM110
                if word in name:
                    return True
            return False

        return contains_folded
    if mode == "contains":

        def contains(name: str) -> bool:
            for word in words:  # noqa: SIM110
                if word in name:
                    return True
            return False

        return contains
    return _regex_predicate(words)


def _regex_predicate(words: tuple[str, ...]) -> Callable[[str], bool]:
    import re  # lazy: only regex matchers pay for it
    import warnings

    compiled: list[Any] = []
    for word in words:
        try:
            # A user's pattern must not make Python print FutureWarnings into their logs.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                compiled.append(re.compile(word))
        except (re.error, RecursionError, OverflowError, ValueError, TypeError) as exc:
            raise ValueError(f"invalid secrets regex {word!r}: {exc}") from None
    # Each pattern is compiled on its own: joining them with '|' would renumber groups and
    # break back-references.
    matchers = tuple(pattern.fullmatch for pattern in compiled)

    def regex(name: str) -> bool:
        for fullmatch in matchers:  # noqa: SIM110
            if fullmatch(name) is not None:
                return True
        return False

    return regex


DEFAULT_SECRETS = SecretsMatcher("contains-ignore-case", ("key", "pass", "secret"))
