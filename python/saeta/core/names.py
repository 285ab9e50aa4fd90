"""Validation of the identifiers that cross trust boundaries."""

from __future__ import annotations

import re

_TENANT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_DATASET = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def is_tenant_id(value: str) -> bool:
    """1-64 characters of ASCII letters, digits, '.', '_', '-', not starting with a
    punctuation mark: safe as a directory name and as a certificate CN."""
    return _TENANT.fullmatch(value) is not None


def is_dataset_name(value: str) -> bool:
    """1-128 characters of ASCII letters, digits, '_', '.', '-'."""
    return _DATASET.fullmatch(value) is not None
