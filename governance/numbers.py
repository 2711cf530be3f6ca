"""Numbers typed by people: ASCII digits only, everywhere.

Python's `Decimal`, `int` and `re`'s `\\d` take any Unicode digit, so `Decimal("١٢")` is 12: a
price or a budget typed in another script would be stored as a number nobody wrote. Every
parse of a decimal from user input (the matrix and rules loaders, the admin's forms, the
ingest schema) goes through `decimal_parse` or a pattern of [0-9], the admin's number fields
are the `Ascii*Field`s below, and ids in URLs pass `is_row_id`.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import models

# A plain decimal, optionally signed, with an optional exponent; ASCII digits only.
ASCII_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
ASCII_DIGITS_MESSAGE = "must be a number written with the digits 0-9"


def decimal_parse(value: str | int | float) -> Decimal:
    """The finite Decimal a string or number spells, or ValueError (with a message for people)
    when it is not one written in ASCII digits."""
    text = str(value).strip()
    if ASCII_DECIMAL.fullmatch(text) is None:
        raise ValueError(ASCII_DIGITS_MESSAGE)
    try:
        return Decimal(text)
    except InvalidOperation:  # the pattern admits only what Decimal reads; kept for safety
        raise ValueError(ASCII_DIGITS_MESSAGE) from None


def decimal_shown(value: Decimal) -> str:
    """A stored decimal as people wrote it: 0.01, not 0.01000000; 100, not 1E+2."""
    return format(value.normalize(), "f")


def is_row_id(raw: str) -> bool:
    """Whether a path or query value can be a row's id (a bigint): ASCII digits, at most 18 of
    them. isdigit() alone lets "²" through, which int() refuses, and "١٢", which it reads as
    12; a value that is not an id must be a 404 before it reaches a query, where it is a 500."""
    return raw.isascii() and raw.isdigit() and len(raw) <= 18


class AsciiDigitsMixin:
    """A form field for numbers that refuses non-ASCII text before Django's parser, which
    takes digits of every script (`int`, `float` and `Decimal` all do)."""

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and not value.isascii():
            raise ValidationError("Enter a number written with the digits 0-9.", code="invalid")
        return super().to_python(value)  # type: ignore[misc]


class AsciiDecimalField(AsciiDigitsMixin, forms.DecimalField):
    """The admin's decimal field: digits 0-9 only."""


class AsciiFloatField(AsciiDigitsMixin, forms.FloatField):
    """The admin's float field: digits 0-9 only."""


class AsciiIntegerField(AsciiDigitsMixin, forms.IntegerField):
    """The admin's integer field: digits 0-9 only."""


# For ModelAdmin.formfield_overrides (admins and inlines): every number the admin takes.
ADMIN_NUMBER_FIELDS: dict[type[models.Field], dict[str, Any]] = {
    models.DecimalField: {"form_class": AsciiDecimalField},
    models.FloatField: {"form_class": AsciiFloatField},
    models.IntegerField: {"form_class": AsciiIntegerField},
}
