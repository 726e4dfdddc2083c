"""Secret matching (all five modes) and masking of query strings and mappings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from instana_serverless.secrets import DEFAULT_SECRETS, MASK, SecretsMatcher


def test_default_matcher() -> None:
    assert DEFAULT_SECRETS.mode == "contains-ignore-case"
    assert DEFAULT_SECRETS.keywords == ("key", "pass", "secret")
    for name in ("api_key", "PASSWORD", "Client-Secret", "x-API-Key", "passphrase"):
        assert DEFAULT_SECRETS.is_secret(name), name
    for name in ("user", "token", "ke", "", "pas"):
        assert not DEFAULT_SECRETS.is_secret(name), name


@pytest.mark.parametrize(
    ("mode", "keywords", "secret", "not_secret"),
    [
        ("equals-ignore-case", ["Password"], ["password", "PASSWORD", "PassWord"], ["passwords"]),
        ("equals-ignore-case", ["token"], ["TOKEN", "Token"], ["my_token", "toke"]),
        ("equals", ["Password"], ["Password"], ["password", "PASSWORD", "Passwords"]),
        (
            "contains-ignore-case",
            ["Secret"],
            ["secret", "MY_SECRET_X", "clientSecret"],
            ["secre", "sec-ret"],
        ),
        ("contains-ignore-case", ["KEY"], ["api_key", "ApiKey", "KEYS"], ["kay"]),
        ("contains", ["Key"], ["ApiKey", "Key"], ["api_key", "KEY"]),
        ("regex", [r"pass.*"], ["password", "pass"], ["Password", "my_password", "pas"]),
        ("regex", [r"[a-z]+_id", "tok"], ["user_id", "tok"], ["user_id2", "User_id", "token"]),
    ],
)
def test_modes(mode: str, keywords: list[str], secret: list[str], not_secret: list[str]) -> None:
    matcher = SecretsMatcher(mode, keywords)
    assert matcher.mode == mode
    assert matcher.keywords == tuple(keywords)
    for name in secret:
        assert matcher.is_secret(name), (mode, name)
    for name in not_secret:
        assert not matcher.is_secret(name), (mode, name)


def test_ignore_case_non_ascii() -> None:
    matcher = SecretsMatcher("equals-ignore-case", ["STRASSE"])
    assert matcher.is_secret("straße")
    assert SecretsMatcher("contains-ignore-case", ["ΚΛΕΙΔΙ"]).is_secret("my_κλειδι")


def test_regex_is_full_match_and_keeps_backreferences_per_keyword() -> None:
    matcher = SecretsMatcher("regex", [r"(a)\1", r"(b)\1"])
    assert matcher.is_secret("aa")
    assert matcher.is_secret("bb")
    assert not matcher.is_secret("aab")
    assert not matcher.is_secret("xbb")


@pytest.mark.parametrize(
    ("text", "mode", "keywords"),
    [
        ("equals:password", "equals", ("password",)),
        ("contains-ignore-case:key,pass,secret", "contains-ignore-case", ("key", "pass", "secret")),
        (" EQUALS-IGNORE-CASE : a , b ,, ", "equals-ignore-case", ("a", "b")),
        ("regex:^a:b$,c", "regex", ("^a:b$", "c")),
        ("contains:x", "contains", ("x",)),
    ],
)
def test_parse(text: str, mode: str, keywords: tuple[str, ...]) -> None:
    matcher = SecretsMatcher.parse(text)
    assert (matcher.mode, matcher.keywords) == (mode, keywords)


@pytest.mark.parametrize(
    "text",
    ["", "password", "nope:a", "equals:", "equals: , ", ":key", "regex:(", "regex:a,[b"],
)
def test_parse_invalid(text: str) -> None:
    with pytest.raises(ValueError):
        SecretsMatcher.parse(text)


def test_constructor_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="unknown secrets matcher 'starts-with'"):
        SecretsMatcher("starts-with", ["a"])
    with pytest.raises(ValueError, match="at least one keyword"):
        SecretsMatcher("equals", [])
    with pytest.raises(ValueError, match="invalid secrets regex"):
        SecretsMatcher("regex", ["a)"])
    with pytest.raises(ValueError, match="non-empty"):
        SecretsMatcher("equals", [""])


def test_single_string_keyword_is_not_split_into_characters() -> None:
    matcher = SecretsMatcher("equals", "token")
    assert matcher.keywords == ("token",)
    assert not matcher.is_secret("t")


def test_equality_and_repr() -> None:
    assert SecretsMatcher.parse("equals:a,b") == SecretsMatcher("equals", ["a", "b"])
    assert SecretsMatcher("equals", ["a"]) != SecretsMatcher("contains", ["a"])
    assert repr(SecretsMatcher("equals", ["a"])) == "SecretsMatcher('equals', ['a'])"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("a=1&Password=x&b", f"a=1&Password={MASK}&b"),
        ("?a=1&password=x", f"?a=1&password={MASK}"),
        ("key=1&a=2&KEY=3&key=", f"key={MASK}&a=2&KEY={MASK}&key={MASK}"),
        ("pass%77ord=x&p%61ss=y&a%20b=c", f"pass%77ord={MASK}&p%61ss={MASK}&a%20b=c"),
        ("my+secret=1&x=%zz", f"my+secret={MASK}&x=%zz"),
        ("a=&b=&c", "a=&b=&c"),
        ("password&x=1", "password&x=1"),
        ("", ""),
        ("?", "?"),
        ("&&a=1&&", "&&a=1&&"),
        ("a=x=y&secret=u=v", f"a=x=y&secret={MASK}"),
        ("q=%E2%82%AC&api_key=abc%20def", f"q=%E2%82%AC&api_key={MASK}"),
        ("=value&pass=", f"=value&pass={MASK}"),
    ],
)
def test_mask_query(query: str, expected: str) -> None:
    assert DEFAULT_SECRETS.mask_query(query) == expected


def test_mask_query_leaves_unmatched_text_identical() -> None:
    query = "?b=2&a=1&a=3&z&x=%41+b"
    assert DEFAULT_SECRETS.mask_query(query) == query


def test_mask_query_with_equals_mode_decodes_names() -> None:
    matcher = SecretsMatcher("equals-ignore-case", ["access token"])
    assert matcher.mask_query("Access+Token=1&access%20token=2") == (
        f"Access+Token={MASK}&access%20token={MASK}"
    )


def test_mask_mapping() -> None:
    source = {"Authorization": "Bearer x", "X-Api-Key": "k", "Accept": "*/*"}
    masked = DEFAULT_SECRETS.mask_mapping(source)
    assert masked == {"Authorization": "Bearer x", "X-Api-Key": MASK, "Accept": "*/*"}
    assert source["X-Api-Key"] == "k"
    assert list(masked) == list(source)


@given(st.text())
def test_parse_returns_matcher_or_raises_value_error(text: str) -> None:
    try:
        matcher = SecretsMatcher.parse(text)
    except ValueError:
        return
    assert isinstance(matcher, SecretsMatcher)
    assert matcher.keywords
    assert isinstance(matcher.is_secret(text), bool)


@given(st.from_regex(r"(regex|equals|contains)(-ignore-case)?:.*", fullmatch=True))
def test_parse_of_plausible_specs(text: str) -> None:
    try:
        matcher = SecretsMatcher.parse(text)
    except ValueError:
        return
    assert matcher.mode in text


_query_chars = st.sampled_from([*list("ab?&=%+ 20Kk"), "pass", "%7", "%E2", "é", "\x00"])


@given(st.one_of(st.text(), st.lists(_query_chars).map("".join)))
def test_mask_query_never_raises(query: str) -> None:
    for matcher in (DEFAULT_SECRETS, SecretsMatcher("regex", [".*a.*"])):
        masked = matcher.mask_query(query)
        assert isinstance(masked, str)
        assert masked.count("&") == query.count("&")
        assert masked.startswith("?") == query.startswith("?")


def test_a_questionable_regex_prints_no_warning() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        matcher = SecretsMatcher.parse("regex:[[a]]")
    assert matcher.is_secret("[]")
