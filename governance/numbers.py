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


def money_shown(value: Decimal) -> str:
    """Money for the admin, exact: dollars with thousands separators and at least cents, and
    the further places a price needs (`$12,000.00`, `$0.0025`), never the stored eight."""
    exponent = value.normalize().as_tuple().exponent
    places = max(2, -exponent) if isinstance(exponent, int) else 2
    return f"{'-' if value < 0 else ''}${abs(value):,.{places}f}"


def is_money_field(field: Any) -> bool:
    """A money column (numeric(20, 8) in dollars): amounts end in `_usd`, prices in `_per_1k`."""
    return isinstance(field, models.DecimalField) and field.name.endswith(("_usd", "_per_1k"))


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


class DecimalInput(forms.NumberInput):
    """A decimal as people wrote it (0.05), not as stored (0.05000000)."""

    def format_value(self, value: Any) -> str | None:
        if isinstance(value, Decimal) and value.is_finite():
            return decimal_shown(value)
        return super().format_value(value)


class AsciiDecimalField(AsciiDigitsMixin, forms.DecimalField):
    """The admin's decimal field: digits 0-9 only, shown without the stored trailing zeros."""

    widget: type[forms.Widget] = DecimalInput


class MoneyInput(forms.TextInput):
    """Money as the lists show it (`$12,000.00`); a text input, since `$` and `,` are no
    number to the browser."""

    def format_value(self, value: Any) -> str | None:
        if isinstance(value, Decimal) and value.is_finite():
            return money_shown(value)
        return super().format_value(value)


# What a money input takes: an optional sign and `$`, digits in groups of three separated by
# commas (or no commas at all), and decimals. `1,5` is refused, not read as 15.
MONEY_TYPED = re.compile(r"-?\$?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]*)(?:\.[0-9]*)?")


class AsciiMoneyField(AsciiDecimalField):
    """The admin's money field: `$12,000.00` and `12000` alike; digits 0-9 only."""

    widget = MoneyInput

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and value.strip() and value.isascii():
            text = value.strip()
            if MONEY_TYPED.fullmatch(text) is None or not any(c.isdigit() for c in text):
                raise ValidationError("Enter an amount such as 12000, 12,000.00 or $0.0025.")
            value = text.replace("$", "").replace(",", "")
        return super().to_python(value)


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
