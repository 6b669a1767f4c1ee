"""Hostile values for the fuzzer, and a JSON writer for what json.dumps refuses to write.

The tables hold the inputs that once broke, or could break, a webhook handler:
odd Unicode (lone surrogates, bidi overrides, non-ASCII digits), times at the edge
of the representable range, CPU texts that float() accepts but should not.
`Raw` and `Pairs` let a body carry raw JSON text (deep nesting, NaN, 1e999) and
duplicate keys.
"""

from __future__ import annotations

import base64
import json
import random
from typing import Any


class Raw(str):
    """JSON text emitted as is (deep nesting, NaN, 1e999)."""


class Pairs(list):
    """An object as (key, value) pairs: duplicate keys survive."""


def dump(node: Any) -> str:
    if isinstance(node, Raw):
        return str(node)
    if isinstance(node, Pairs):
        return "{" + ",".join(f"{json.dumps(k)}:{dump(v)}" for k, v in node) + "}"
    if isinstance(node, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{dump(v)}" for k, v in node.items()) + "}"
    if isinstance(node, list):
        return "[" + ",".join(dump(v) for v in node) + "]"
    return json.dumps(node)


ODD_TEXT = [
    "é",
    "😀",
    "\u202e",
    "e\u0301",
    "\ufeff",
    "\ud800",
    "\udfff",
    "ß",
    "İ",
    "٩٢",
    "９２",
    "\u2028",
    "\x7f",
    "\x1b[31m",
    "Ω",
    "日本",
    "\U0010ffff",
    "\\",
    '"',
    "/",
    "%00",
]
TIMES = [
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",
    "0001-01-01T00:30:00+01:00",
    "9999-12-31T23:59:59-01:00",
    "9999-12-31T23:59:59.999999999Z",
    "2026-02-30T00:00:00Z",
    "2026-11-24T24:00:00Z",
    "2026-11-24t09:00:00z",
    "2026-11-24T09:00:00.123456789Z",
    "2026-11-24T09:00:00.1234567891Z",
    "2026-11-24T09:00:00+25:00",
    "2026-11-24 09:00:00Z",
    "",
    "now",
    "0999-01-01T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "٢٠٢٦-11-24T09:00:00Z",
    "2026-11-24T09:00:00-00:00",
    "1970-01-01T00:00:00Z",
    "2026-11-24T09:00:00+23:59",
    "2026-11-24T09:00:00",
    "2026-11-24T09:00:60Z",
    1732437600,
    None,
    1.5,
    [],
    {},
]
CPUS = [
    "92",
    "92.5%",
    " 66 % ",
    "1e2",
    "nan",
    "inf",
    "-5",
    "+5",
    "0x10",
    "٩٢",
    "９２",
    "9" * 40,
    "",
    "%",
    "..",
    "1.",
    ".5",
    "50%%",
    "5 0",
    "\t7\t",
    "33",
    "32.999999999999999",
    "66.0",
    "1" + "0" * 31,
    "\x0050",
    92,
    None,
    True,
    ["92"],
]

# Requests other than a webhook POST: methods, paths and content types a broken or hostile
# sender uses.
METHODS = ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]
PATHS = [
    "/",
    "/",
    "/",
    "/alert",
    "/x/../..",
    "/%00",
    "/healthz",
    "/_/ready",
    "/metrics",
    "/a" * 200,
    "/\u2028",
]
CONTENT_TYPES = [
    "application/json",
    "application/json",
    "text/plain",
    None,
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/json; charset=utf-16",
    "application/octet-stream",
]


def auth_header(rng: random.Random, token: str, user: str, password: str) -> str | None:
    """An Authorization header, right, wrong or malformed, for the configured credentials."""
    good_basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    return rng.choice(
        [
            None,
            "",
            f"Bearer {token}",
            f"bearer  {token} ",
            f"Bearer {token}x",
            f"Bearer {token[:-1]}",
            "Bearer",
            "Basic",
            f"Basic {good_basic}",
            f"basic {good_basic}",
            "Basic ###",
            "Basic " + base64.b64encode(b"\xff\xfe:\x00").decode(),
            "Basic " + base64.b64encode(b"nocolon").decode(),
            f"Basic {good_basic[:-2]}",
            "Basic é",
            "Digest x",
            "Bearer " + "t" * 10_000,
            "Bearer \xff\xfe",
            f"Bearer {token}\x00",
            "Bearer " + token.upper(),
            f"{token}",
        ]
    )
