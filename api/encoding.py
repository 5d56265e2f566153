"""Stripe's form encoding: ``a[b][0][c]=v`` and ``a[]=v`` pairs -> nested dicts and lists of strings."""

import re
from urllib.parse import parse_qsl

from django.core.exceptions import RequestDataTooBig

MAX_BODY_BYTES = 1024 * 1024
MAX_PARAMS = 2000
MAX_DEPTH = 10
MAX_KEY_LENGTH = 500
# Maps whose keys are the caller's own (metadata keys may be digits: never turned into lists).
FREE_FORM_MAPS = frozenset({"metadata"})

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_TOKEN = re.compile(r"\[([^\[\]]*)\]")


class EncodingError(Exception):
    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param


def split_key(key: str) -> list[str]:
    if len(key) > MAX_KEY_LENGTH:
        raise EncodingError(f"Parameter name too long: {key[:40]}…")
    match = _KEY.match(key)
    if not match:
        raise EncodingError(f"Invalid parameter name: {key}", param=key)
    path = [match.group(1), *_TOKEN.findall(match.group(2))]
    if len(path) > MAX_DEPTH:
        raise EncodingError(f"Parameter nested too deeply: {key}", param=key)
    return path


class _Appendable(list):
    """A list built from ``a[]`` pairs."""


def _conflict(key: str) -> EncodingError:
    return EncodingError(f"Invalid parameter: {key} mixes a value and nested parameters.", param=key)


def parse_pairs(pairs: list[tuple[str, str]]) -> dict:
    if len(pairs) > MAX_PARAMS:
        raise EncodingError(f"Too many parameters: at most {MAX_PARAMS} are allowed.")
    root: dict = {}
    for key, value in pairs:
        if "\x00" in key or "\x00" in value:
            raise EncodingError(
                f"Invalid parameter {key.replace(chr(0), '')!r}: NUL characters are not allowed.",
                param=key.replace("\x00", ""),
            )
        path = split_key(key)
        node: dict | list = root
        for depth, token in enumerate(path[:-1]):
            wants_list = path[depth + 1] == ""
            node = _descend(node, token, wants_list, key, path[depth + 1 :])
        _assign(node, path[-1], value, key)
    return _finish(root, parent="")


def _descend(node, token: str, wants_list: bool, key: str, rest: list[str]):
    if isinstance(node, list):
        if token != "":
            raise _conflict(key)
        # ``a[][b]=1``: continue the last element unless it already has this key, Rails-style.
        if node and isinstance(node[-1], dict) and rest and rest[0] not in node[-1]:
            return node[-1]
        child = _Appendable() if wants_list else {}
        node.append(child)
        return child
    existing = node.get(token)
    if existing is None:
        existing = node[token] = _Appendable() if wants_list else {}
    elif isinstance(existing, str) or (wants_list != isinstance(existing, _Appendable)):
        raise _conflict(key)
    return existing


def _assign(node, token: str, value: str, key: str) -> None:
    if isinstance(node, list):
        if token != "":
            raise _conflict(key)
        node.append(value)
        return
    if token == "":
        raise _conflict(key)
    if isinstance(node.get(token), dict | list):
        raise _conflict(key)
    node[token] = value


def _finish(value, parent: str):
    if isinstance(value, _Appendable):
        return [_finish(v, parent) for v in value]
    if isinstance(value, dict):
        done = {k: _finish(v, k) for k, v in value.items()}
        if done and parent not in FREE_FORM_MAPS and all(k.isdigit() for k in done):
            return [done[k] for k in sorted(done, key=int)]
        return done
    return value


def parse_body(body: bytes) -> dict:
    if len(body) > MAX_BODY_BYTES:
        raise RequestDataTooBig(f"Request body over {MAX_BODY_BYTES} bytes.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise EncodingError("Request body is not valid UTF-8.")
    return parse_query(text)


def parse_query(text: str) -> dict:
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_PARAMS)
    except ValueError:
        raise EncodingError(f"Too many parameters: at most {MAX_PARAMS} are allowed.")
    return parse_pairs(pairs)
