"""Loading a model-matrix file (DESIGN.md `load_matrix`): models, prices, bands, settings and
the project's profile.

Loading is idempotent: models are matched by name, prices by (model, effective_from), bands are
replaced as a whole, settings overwritten. The same model listed twice with two dates is a
price change; a second row with the same date corrects that price. The profile, too, is
replaced as a whole: a question it leaves out (or answers null) is unanswered, and
`"profile": null` removes the profile.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from itertools import pairwise
from typing import Any, Literal

from django.db import transaction

from governance.models import (
    PROFILE_QUESTIONS,
    ComplexityBand,
    MatrixModel,
    Mode,
    ModelPrice,
    Project,
    ProjectProfile,
)
from governance.numbers import decimal_parse
from governance.services import GovernanceError

SETTINGS_MONEY = {
    "interception_cost": "interception_cost_usd",
    "correction_cost": "correction_cost_usd",
    "incident_cost": "incident_cost_usd",
    "check_cost": "check_cost_usd",
}
SETTINGS_SCALES = ("token_scale", "tool_scale")

ProfileOutcome = Literal["", "created", "updated", "unchanged", "removed"]


@dataclass
class MatrixLoadResult:
    """What a load changed; all zeros when the same file is loaded twice."""

    models_created: int = 0
    models_updated: int = 0
    prices_created: int = 0
    prices_updated: int = 0
    bands_replaced: bool = False
    settings_changed: list[str] = field(default_factory=list)
    profile: ProfileOutcome = ""  # "": the document has no "profile"

    @property
    def changed(self) -> bool:
        return bool(
            self.models_created
            or self.models_updated
            or self.prices_created
            or self.prices_updated
            or self.bands_replaced
            or self.settings_changed
            or self.profile in ("created", "updated", "removed")
        )


MONEY_LIMIT = 10**12


def _money(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise GovernanceError(f"{where}: expected a decimal string, got {value!r}")
    try:
        amount = decimal_parse(value)
    except ValueError as exc:
        raise GovernanceError(f"{where}: {value!r} is not a decimal number ({exc})") from None
    if not 0 <= amount < MONEY_LIMIT:  # numeric(20, 8) holds less than 10^12
        raise GovernanceError(f"{where}: must be a non-negative number below {MONEY_LIMIT:,}")
    return amount.quantize(Decimal("0.00000001"))


def _moment(value: Any, where: str) -> datetime:
    """A date (midnight UTC) or an RFC 3339 datetime with offset."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        return datetime.combine(value, time.min, tzinfo=UTC)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise GovernanceError(f"{where}: {value!r} is not a date or datetime") from None
        if len(value) == 10:
            return parsed.replace(tzinfo=UTC)
    else:
        raise GovernanceError(f"{where}: expected a date, got {value!r}")
    if parsed.tzinfo is None:
        raise GovernanceError(f"{where}: a datetime needs a UTC offset")
    return parsed.astimezone(UTC)


def _text(item: dict[str, Any], key: str, where: str, *, required: bool = True) -> str:
    value = item.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip() or len(value) > 100:
        raise GovernanceError(f"{where}.{key}: expected a string of 1 to 100 characters")
    return value.strip()


def _score(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise GovernanceError(f"{where}: expected a number from 0 to 100")
    try:
        score = decimal_parse(value)
    except ValueError as exc:
        raise GovernanceError(f"{where}: expected a number from 0 to 100 ({exc})") from None
    if not 0 <= score <= 100:
        raise GovernanceError(f"{where}: expected a number from 0 to 100")
    return score


@transaction.atomic
def matrix_load(*, project: Project, document: Any) -> MatrixLoadResult:
    """Apply a matrix document to a project, all or nothing."""
    if not isinstance(document, dict):
        raise GovernanceError("the matrix file must hold an object with a 'models' list")
    result = MatrixLoadResult()
    models = document.get("models", [])
    if not isinstance(models, list):
        raise GovernanceError("models: expected a list")
    for index, item in enumerate(models):
        _load_model(project, item, f"models[{index}]", result)

    known = set(project.matrix_models.values_list("name", flat=True))
    if "bands" in document:
        _load_bands(project, document["bands"], known, result)
    _load_project_settings(project, document, known, result)
    if "profile" in document:
        result.profile = _load_profile(project, document["profile"])
    return result


def _load_model(project: Project, item: Any, where: str, result: MatrixLoadResult) -> None:
    if not isinstance(item, dict):
        raise GovernanceError(f"{where}: expected an object")
    name = _text(item, "name", where)
    provider = _text(item, "provider", where)
    tier = _text(item, "tier", where, required=False)
    model, created = MatrixModel.objects.get_or_create(
        project=project, name=name, defaults={"provider": provider, "tier": tier}
    )
    if created:
        result.models_created += 1
    elif (model.provider, model.tier) != (provider, tier):
        model.provider, model.tier = provider, tier
        model.save(update_fields=["provider", "tier"])
        result.models_updated += 1

    values = {
        "input_per_1k": _money(item.get("input_per_1k"), f"{where}.input_per_1k"),
        "output_per_1k": _money(item.get("output_per_1k"), f"{where}.output_per_1k"),
        "cache_read_per_1k": None,
        "cache_write_per_1k": None,
    }
    for key in ("cache_read_per_1k", "cache_write_per_1k"):
        if item.get(key) is not None:
            values[key] = _money(item[key], f"{where}.{key}")
    effective_from = _moment(item.get("effective_from"), f"{where}.effective_from")
    price, created = ModelPrice.objects.get_or_create(
        model=model, effective_from=effective_from, defaults=values
    )
    if created:
        result.prices_created += 1
    elif any(getattr(price, key) != value for key, value in values.items()):
        for key, value in values.items():
            setattr(price, key, value)
        price.save()
        result.prices_updated += 1


def _load_bands(project: Project, bands: Any, known: set[str], result: MatrixLoadResult) -> None:
    if not isinstance(bands, list):
        raise GovernanceError("bands: expected a list")
    wanted = []
    for index, band in enumerate(bands):
        where = f"bands[{index}]"
        if not isinstance(band, dict):
            raise GovernanceError(f"{where}: expected an object")
        low, high = _score(band.get("min"), f"{where}.min"), _score(band.get("max"), f"{where}.max")
        if low >= high:
            raise GovernanceError(f"{where}: min must be below max")
        model = _text(band, "model", where)
        if model not in known:
            raise GovernanceError(f"{where}.model: {model!r} is not in the matrix")
        wanted.append((low, high, model))
    wanted.sort()
    for (_, high, _), (low, _, _) in pairwise(wanted):
        if low < high:
            raise GovernanceError("bands: ranges overlap")
    current = list(
        project.bands.order_by("min_score").values_list("min_score", "max_score", "model_name")
    )
    if current != wanted:
        project.bands.all().delete()
        ComplexityBand.objects.bulk_create(
            ComplexityBand(project=project, min_score=low, max_score=high, model_name=model)
            for low, high, model in wanted
        )
        result.bands_replaced = True


def _load_project_settings(
    project: Project, document: dict[str, Any], known: set[str], result: MatrixLoadResult
) -> None:
    changes: dict[str, Any] = {}
    if "baseline_model" in document:
        baseline = document["baseline_model"] or ""
        if baseline and baseline not in known:
            raise GovernanceError(f"baseline_model: {baseline!r} is not in the matrix")
        changes["baseline_model"] = baseline
    if "expected_shares" in document:
        changes["expected_shares"] = _expected_shares(document["expected_shares"], known)
    settings = document.get("settings", {})
    if not isinstance(settings, dict):
        raise GovernanceError("settings: expected an object")
    for key, column in SETTINGS_MONEY.items():
        if key in settings:
            changes[column] = _money(settings[key], f"settings.{key}")
    for key in SETTINGS_SCALES:
        if key in settings:
            value = settings[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise GovernanceError(f"settings.{key}: expected a whole number of at least 1")
            changes[key] = value
    if "default_mode" in settings:
        mode = settings["default_mode"]
        if mode not in Mode.values:
            raise GovernanceError(
                f"settings.default_mode: expected one of {', '.join(Mode.values)}, got {mode!r}"
            )
        changes["default_mode"] = mode
    result.settings_changed = [
        key for key, value in changes.items() if getattr(project, key) != value
    ]
    if result.settings_changed:
        for key in result.settings_changed:
            setattr(project, key, changes[key])
        project.save(update_fields=result.settings_changed)


def _expected_shares(shares: Any, known: set[str]) -> dict[str, float]:
    if not isinstance(shares, dict):
        raise GovernanceError("expected_shares: expected an object of model to share")
    cleaned = {}
    for model, share in shares.items():
        if model not in known:
            raise GovernanceError(f"expected_shares.{model}: not in the matrix")
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
            raise GovernanceError(f"expected_shares.{model}: expected a fraction from 0 to 1")
        cleaned[model] = float(share)
    if sum(cleaned.values()) > 1.0001:
        raise GovernanceError("expected_shares: the shares add up to more than 1")
    return cleaned


def _profile_answers(profile: Any) -> dict[str, str]:
    """Every question with its answer, "" when unanswered; bad answers name their path."""
    if not isinstance(profile, dict):
        raise GovernanceError("profile: expected an object of question to answer, or null")
    unknown = sorted(set(profile) - set(PROFILE_QUESTIONS))
    if unknown:
        raise GovernanceError(
            f"profile.{unknown[0]}: not a question (expected {', '.join(PROFILE_QUESTIONS)})"
        )
    answers = {}
    for question, choices in PROFILE_QUESTIONS.items():
        answer = profile.get(question)
        if answer is not None and answer not in choices.values:
            raise GovernanceError(
                f"profile.{question}: expected one of {', '.join(choices.values)} or null, "
                f"got {answer!r}"
            )
        answers[question] = answer or ""
    return answers


def _load_profile(project: Project, profile: Any) -> ProfileOutcome:
    current = ProjectProfile.objects.filter(project=project).first()
    if profile is None:
        if current is None:
            return "unchanged"
        current.delete()  # the history keeps the removed answers
        return "removed"
    answers = _profile_answers(profile)
    if current is None:
        ProjectProfile.objects.create(project=project, **answers)
        return "created"
    if all(getattr(current, question) == answer for question, answer in answers.items()):
        return "unchanged"  # not saved: no audit row for a file loaded twice
    for question, answer in answers.items():
        setattr(current, question, answer)
    current.save()
    return "updated"
