"""Emails: names are text in subjects and text bodies (only HTML bodies escape them)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.template.loader import render_to_string

NAME = "Smith & Jones <Ltd>"


@pytest.mark.parametrize(
    ("template", "context"),
    [
        (
            "emails/alert_subject.txt",
            {
                "alert": SimpleNamespace(severity="critical", kind="error_rate", scope="project"),
                "event": "firing",
                "rule": SimpleNamespace(name=NAME),
                "project": SimpleNamespace(name="R&D"),
            },
        ),
        (
            "emails/budget_subject.txt",
            {
                "budget": SimpleNamespace(name=NAME),
                "where": "project R&D",
                "amount": "$10.00",
                "threshold": 80,
            },
        ),
        (
            "emails/digest_subject.txt",
            {"organization": SimpleNamespace(name=NAME), "spend": "$1.00", "change": "no change"},
        ),
    ],
)
def test_subjects_show_names_as_they_are(template, context):
    subject = render_to_string(template, context)
    assert NAME in subject and "&amp;" not in subject and "&lt;" not in subject
