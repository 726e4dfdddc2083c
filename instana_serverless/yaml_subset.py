"""A small YAML reader for the configuration file (``INSTANA_CONFIG_PATH``) when no YAML
library is installed: serverless packages rarely ship one, and we add no dependency.

The subset (what Instana's documented configuration files use):

- block mappings (``key: value``, ``key:`` followed by an indented block) and block
  sequences (``- item``, ``- key: value`` opening a mapping), nested by indentation (spaces);
- scalars: plain words, ``'single'`` and ``"double"`` quoted strings (``\\"``, ``\\\\``,
  ``\\n``, ``\\t`` escapes), ``true``/``false``/``yes``/``no``/``on``/``off``, integers,
  ``null``/``~``;
- flow sequences of scalars on one line (``[a, "b", 3]``);
- ``#`` comments, blank lines, a leading ``---``.

Anything else (anchors, aliases, tags, ``|``/``>`` blocks, flow mappings, tabs for
indentation, several documents) is refused with a ``YamlError`` naming the line: a file we
cannot read exactly is never half-read.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, List, Tuple


class YamlError(ValueError):
    """The text is outside the subset (or not YAML at all); the message names the line."""


_BOOLEANS = {
    "true": True,
    "false": False,
    "yes": True,
    "no": False,
    "on": True,
    "off": False,
}


def _strip_comment(text: str) -> str:
    """``text`` without a trailing ``# comment`` (a ``#`` inside quotes is kept)."""
    quote = ""
    escaped = False
    for index, char in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif char == "\\" and quote == '"':
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or text[index - 1] in " \t"):
            return text[:index].rstrip()
    return text.rstrip()


def _unquote(text: str, number: int) -> str:
    quote = text[0]
    if len(text) < 2 or text[-1] != quote:
        raise YamlError(f"line {number}: unterminated quoted string")
    body = text[1:-1]
    if quote == "'":
        return body.replace("''", "'")
    out: List[str] = []
    chars = iter(body)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        escaped = next(chars, "")
        replacement = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "/": "/"}.get(escaped)
        if replacement is None:
            raise YamlError(f"line {number}: unsupported escape \\{escaped}")
        out.append(replacement)
    return "".join(out)


def _split_flow(body: str, number: int) -> List[str]:
    items: List[str] = []
    current: List[str] = []
    quote = ""
    escaped = False
    for char in body:
        if quote:
            current.append(char)
            if escaped:
                escaped = False
            elif char == "\\" and quote == '"':
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
            current.append(char)
        elif char == ",":
            items.append("".join(current).strip())
            current = []
        elif char in "[]{}":
            raise YamlError(f"line {number}: nested flow collections are not supported")
        else:
            current.append(char)
    if quote:
        raise YamlError(f"line {number}: unterminated quoted string")
    last = "".join(current).strip()
    if last or items:
        items.append(last)
    if any(item == "" for item in items):
        raise YamlError(f"line {number}: empty item in a flow sequence")
    return items


def scalar(text: str, number: int) -> Any:
    """One scalar (or a one-line flow sequence of scalars)."""
    text = text.strip()
    if not text or text in ("~", "null", "Null", "NULL"):
        return None
    first = text[0]
    if first in "'\"":
        return _unquote(text, number)
    if first == "[":
        if not text.endswith("]"):
            raise YamlError(f"line {number}: a flow sequence must close on its line")
        return [scalar(item, number) for item in _split_flow(text[1:-1], number)]
    if first in "{&*!|>%@`":
        raise YamlError(
            f"line {number}: {first!r} (flow mappings, anchors, aliases, tags, "
            "block scalars) is outside the supported subset"
        )
    lowered = text.lower()
    if lowered in _BOOLEANS:
        return _BOOLEANS[lowered]
    digits = text[1:] if text[0] in "+-" else text
    if digits.isdigit() and digits.isascii():
        return int(text)
    return text


def _lines(text: str) -> List[Tuple[int, int, str]]:
    """(line number, indentation, content) of every line that says something."""
    lines: List[Tuple[int, int, str]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        body = raw.rstrip()
        stripped = body.lstrip(" ")
        if stripped.startswith("\t") or (stripped and "\t" in body[: len(body) - len(stripped)]):
            raise YamlError(f"line {number}: tabs are not allowed for indentation")
        content = _strip_comment(stripped)
        if not content:
            continue
        if content == "---" and not lines:
            continue
        if content in ("---", "..."):
            raise YamlError(f"line {number}: only one document is supported")
        lines.append((number, len(body) - len(stripped), content))
    return lines


def _key_value(content: str, number: int) -> Tuple[str, str]:
    """``key: rest`` split at the first ``: `` outside quotes; a YamlError if there is none."""
    quote = ""
    for index, char in enumerate(content):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"" and index == 0:
            quote = char
        elif char == ":" and (index + 1 == len(content) or content[index + 1] == " "):
            key = content[:index].strip()
            if not key:
                raise YamlError(f"line {number}: empty key")
            if key[0] in "'\"":
                key = _unquote(key, number)
            elif key[0] in "?{[&*!":
                raise YamlError(f"line {number}: complex keys are outside the supported subset")
            return key, content[index + 1 :].strip()
    raise YamlError(f"line {number}: expected 'key: value' or '- item'")


class _Parser:
    def __init__(self, lines: List[Tuple[int, int, str]]) -> None:
        self.lines = lines
        self.at = 0

    def block(self, indent: int) -> Any:
        number, here, content = self.lines[self.at]
        if here != indent:
            raise YamlError(f"line {number}: unexpected indentation")
        if content == "-" or content.startswith("- "):
            return self.sequence(indent)
        return self.mapping(indent)

    def _nested(self, indent: int, number: int) -> Any:
        """The block below a ``key:`` or ``-`` with nothing after it (null when none)."""
        if self.at < len(self.lines) and self.lines[self.at][1] > indent:
            return self.block(self.lines[self.at][1])
        return None

    def mapping(self, indent: int, first: Any = None) -> Any:
        result: dict[str, Any] = {}
        while self.at < len(self.lines):
            number, here, content = self.lines[self.at]
            if here < indent:
                break
            if here > indent:
                raise YamlError(f"line {number}: unexpected indentation")
            if content.startswith("- ") or content == "-":
                break
            key, rest = _key_value(content, number)
            if key in result:
                raise YamlError(f"line {number}: duplicate key {key!r}")
            self.at += 1
            if rest:
                result[key] = scalar(rest, number)
            elif (
                self.at < len(self.lines)
                and self.lines[self.at][1] == indent
                and self.lines[self.at][2].startswith("-")
            ):
                # ``key:`` followed by a sequence at the same indentation (a common style)
                result[key] = self.sequence(indent)
            else:
                result[key] = self._nested(indent, number)
        return result

    def sequence(self, indent: int) -> Any:
        result: List[Any] = []
        while self.at < len(self.lines):
            number, here, content = self.lines[self.at]
            if here != indent or not (content == "-" or content.startswith("- ")):
                if here > indent:
                    raise YamlError(f"line {number}: unexpected indentation")
                break
            rest = content[1:].strip()
            if not rest:
                self.at += 1
                result.append(self._nested(indent, number))
                continue
            if rest.startswith("- "):
                raise YamlError(f"line {number}: nested '- - ' sequences are not supported")
            item_indent = indent + (len(content) - len(content[1:].lstrip(" ")))
            try:
                _key_value(rest, number)
                is_mapping = rest[0] not in "'\"[" or ": " in rest
            except YamlError:
                is_mapping = False
            if is_mapping:
                # ``- key: value`` opens a mapping whose other keys sit at the item's column
                self.lines[self.at] = (number, item_indent, rest)
                result.append(self.mapping(item_indent))
            else:
                self.at += 1
                result.append(scalar(rest, number))
        return result


def loads(text: str) -> Any:
    """The document in ``text`` (None when it is empty)."""
    lines = _lines(text)
    if not lines:
        return None
    if lines[0][1] != 0:
        raise YamlError(f"line {lines[0][0]}: the document must start at column 0")
    if len(lines) == 1 and ":" not in lines[0][2] and not lines[0][2].startswith("-"):
        return scalar(lines[0][2], lines[0][0])
    parser = _Parser(lines)
    value = parser.block(0)
    if parser.at < len(lines):
        raise YamlError(f"line {lines[parser.at][0]}: unexpected indentation")
    return value


def load_file(path: str) -> Any:
    """The file at ``path``, read with PyYAML's safe loader when that is installed, else with
    the subset above. ``OSError`` and ``YamlError`` (or PyYAML's own error, as a YamlError)
    tell the caller why not."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        return loads(text)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise YamlError(str(exc).replace("\n", " ")) from None
