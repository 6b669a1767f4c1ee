"""Kubernetes name and label syntax, checked before anything reaches the API.

Pure functions over strings.  The API server would reject a bad name too,
but a name that never leaves the process cannot smuggle a path segment,
a query string or a second label into a request.
"""

import re

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")


def is_dns_label(name: str) -> bool:
    """A namespace name: RFC 1123 label, at most 63 characters."""
    return len(name) <= 63 and _DNS_LABEL.fullmatch(name) is not None


def is_dns_subdomain(name: str) -> bool:
    """A pod name: RFC 1123 subdomain, at most 253 characters."""
    return len(name) <= 253 and _DNS_SUBDOMAIN.fullmatch(name) is not None


def is_label_value(value: str) -> bool:
    """A label value: empty, or at most 63 of [-A-Za-z0-9_.] starting and ending alphanumeric."""
    return value == "" or (len(value) <= 63 and _LABEL_NAME.fullmatch(value) is not None)


def is_qualified_name(key: str) -> bool:
    """A label or annotation key: optional DNS-subdomain prefix and '/', then a name."""
    prefix, slash, name = key.rpartition("/")
    if slash and not is_dns_subdomain(prefix):
        return False
    return 0 < len(name) <= 63 and _LABEL_NAME.fullmatch(name) is not None
