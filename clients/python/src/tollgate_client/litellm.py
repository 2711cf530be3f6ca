"""LiteLLM callback: every LiteLLM call becomes a Tollgate routing event, every guardrail
result in it an enforcement event.

SDK:    litellm.callbacks = [TollgateLogger(mode="hybrid")]
Proxy:  litellm_settings: {callbacks: ["tollgate_client.litellm.proxy_handler"]} in config.yaml

Everything is read from LiteLLM's standard logging payload (`kwargs["standard_logging_object"]`),
the same record its other integrations log, for sync, async and streaming calls alike (LiteLLM
calls the success hook once per stream, with the assembled response). A failure of this callback
is logged on the `tollgate_client` logger and never reaches LiteLLM or its caller.

Event ids are derived from LiteLLM's call id (UUIDv5), so a call LiteLLM reports twice is one
event for Tollgate. A request a pre-call guardrail stopped (blocked, or failed closed) gets its
enforcement events only: no model was attempted, so there is no routing event.
"""

from __future__ import annotations

import logging
import math
import os
import uuid
from collections.abc import Mapping
from typing import Any

from litellm.integrations.custom_logger import CustomLogger

from tollgate_client.client import Client
from tollgate_client.events import MODES

__all__ = ["TollgateLogger", "litellm_events"]

logger = logging.getLogger("tollgate_client")

# Fixed namespace: the same LiteLLM call always maps to the same event ids.
EVENT_NAMESPACE = uuid.UUID("6f1d8a52-3b7e-4c59-9a53-0c1f7e2b9d41")

# LiteLLM's guardrail hooks -> Tollgate's five lines of defence.
LAYER_OF_HOOK = {
    "pre_call": "preprocess",
    "pre_mcp_call": "preprocess",
    "during_call": "execution",
    "during_mcp_call": "execution",
    "post_call": "verification",
    "post_mcp_call": "verification",
    "logging_only": "review",
}
# LiteLLM's guardrail status -> verdict. A guardrail that could not answer did not judge the
# content: it is a flag (with the status kept in the attributes), not a block to count.
VERDICT_OF_STATUS = {
    "success": "allow",
    "guardrail_flagged": "flag",
    "guardrail_intervened": "block",
    "guardrail_failed_to_respond": "flag",
}
# LiteLLM's exception classes -> routing status; any other failure is `error`.
STATUS_OF_ERROR = {
    "RateLimitError": "rate_limited",
    "Timeout": "timeout",
    "APITimeoutError": "timeout",
}

Fields = dict[str, Any]


class TollgateLogger(CustomLogger):
    """A LiteLLM `CustomLogger` that reports each call to Tollgate through a `Client`.

    `client` is an existing Client; without one, a Client is made from `client_kwargs`
    (base_url, api_key, ... or TOLLGATE_URL / TOLLGATE_API_KEY). `mode` is the architecture the
    calls go through (routing_first, enforcement_first, hybrid); `environment` is sent with
    every event when given.
    """

    def __init__(
        self,
        client: Client | None = None,
        mode: str = "hybrid",
        *,
        environment: str | None = None,
        **client_kwargs: Any,
    ) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError("mode: must be one of " + ", ".join(MODES))
        self.client = client if client is not None else Client(**client_kwargs)
        self.mode = mode
        self.environment = environment

    def log_success_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._report(kwargs)

    def log_failure_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._report(kwargs)

    async def async_log_success_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._report(kwargs)  # only queues: nothing here waits for the network

    async def async_log_failure_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._report(kwargs)

    def _report(self, kwargs: dict[str, Any]) -> None:
        try:
            routing, checks = litellm_events(kwargs, mode=self.mode)
            for fields in checks:
                self.client.enforcement(environment=self.environment, **fields)
            if routing is not None:
                self.client.routing(environment=self.environment, **routing)
        except Exception:  # a logging callback must never break the LLM call
            logger.exception("tollgate_client: could not report a LiteLLM call")


def litellm_events(kwargs: Mapping[str, Any], *, mode: str) -> tuple[Fields | None, list[Fields]]:
    """The routing event's fields (None when no model was attempted) and the enforcement
    events' fields of one LiteLLM call, from the kwargs LiteLLM hands its callbacks."""
    payload = kwargs.get("standard_logging_object")
    if not isinstance(payload, Mapping):
        raise ValueError("LiteLLM sent no standard_logging_object; is litellm >= 1.60?")
    call_id = str(payload.get("litellm_call_id") or payload.get("id") or uuid.uuid4())
    metadata = _request_metadata(kwargs)
    request_id = _request_id(payload, metadata, call_id)
    started = _epoch(payload.get("startTime"))
    checks = [
        fields
        for index, info in enumerate(payload.get("guardrail_information") or ())
        if (fields := _check(info, index, call_id, request_id, started, mode)) is not None
    ]
    failed = payload.get("status") == "failure"
    if failed and any(_stopped_the_call(check) for check in checks):
        return None, checks  # refused before any model was called: nothing was routed
    return _routing(payload, metadata, call_id, request_id, started, mode, failed), checks


def _routing(
    payload: Mapping[str, Any],
    metadata: Mapping[str, Any],
    call_id: str,
    request_id: str,
    started: float | None,
    mode: str,
    failed: bool,
) -> Fields:
    model = str(payload.get("model") or payload.get("model_group") or "unknown")[:100]
    input_tokens = _whole(payload.get("prompt_tokens"))
    output_tokens = _whole(payload.get("completion_tokens"))
    fields: Fields = {
        "event_id": _event_id(call_id, "routing", model),
        "request_id": request_id,
        "model": model,
        "mode": mode,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "latency_ms": _latency_ms(started, _epoch(payload.get("endTime"))),
        "status": "ok",
        "attributes": _attributes(payload, call_id),
    }
    if started is not None:
        fields["timestamp"] = started
    provider = payload.get("custom_llm_provider")
    if isinstance(provider, str) and provider:
        fields["provider"] = provider[:100]
    if failed:
        error = payload.get("error_information") or {}
        kind = str(error.get("error_class") or "") or "error"
        fields["status"] = STATUS_OF_ERROR.get(kind, "error")
        fields["error_type"] = kind[:200]
    cost = payload.get("response_cost")
    # 0 is a real answer only for a cache hit; otherwise Tollgate prices from its matrix
    if (
        isinstance(cost, (int, float))
        and math.isfinite(cost)
        and (cost > 0 or payload.get("cache_hit"))
    ):
        fields["cost_usd"] = max(cost, 0)
    fields.update(_token_parts(payload, input_tokens, output_tokens))
    fallback_from = metadata.get("original_model_group")
    group = payload.get("model_group")
    if isinstance(fallback_from, str) and fallback_from and fallback_from != group:
        fields["fallback_from"] = fallback_from[:100]
        fields["route_reason"] = "fallback"
    overhead = (payload.get("hidden_params") or {}).get("litellm_overhead_time_ms")
    if isinstance(overhead, (int, float)) and math.isfinite(overhead) and overhead >= 0:
        fields["routing_latency_ms"] = float(overhead)  # LiteLLM's own time: its routing included
    return fields


def _check(
    info: Any,
    index: int,
    call_id: str,
    request_id: str,
    started: float | None,
    mode: str,
) -> Fields | None:
    """One guardrail result as an enforcement event's fields; None for one that did not run."""
    if not isinstance(info, Mapping):
        return None
    verdict = VERDICT_OF_STATUS.get(str(info.get("guardrail_status")))
    if verdict is None:
        return None
    if verdict == "allow" and (
        info.get("guardrail_response") == "mask" or info.get("masked_entity_count")
    ):
        verdict = "modify"  # the guardrail let the request through, changed
    hook = info.get("guardrail_mode")
    hook = hook[0] if isinstance(hook, list) and hook else hook
    hook = getattr(hook, "value", hook)  # LiteLLM's GuardrailEventHooks is a str enum
    policy = str(info.get("guardrail_name") or "guardrail")[:100]
    fields: Fields = {
        "event_id": _event_id(call_id, "guardrail", f"{index}:{policy}"),
        "request_id": request_id,
        "layer": LAYER_OF_HOOK.get(str(hook), "execution"),
        "policy": policy,
        "verdict": verdict,
        "check_latency_ms": _duration_ms(info),
        "mode": mode,
    }
    moment = _epoch(info.get("start_time")) or started
    if moment is not None:
        fields["timestamp"] = moment
    violation = _violation(info) if verdict != "allow" else None
    if violation:
        fields["violation"] = violation
    attributes = {
        key: info[key]
        for key in ("guardrail_status", "guardrail_provider", "guardrail_id", "detection_method")
        if isinstance(info.get(key), str)
    }
    attributes["litellm_call_id"] = call_id
    fields["attributes"] = attributes
    return fields


def _stopped_the_call(check: Fields) -> bool:
    """A pre-call guardrail that blocked, or failed closed: the model was never called."""
    status = check["attributes"].get("guardrail_status")
    stopping = ("guardrail_intervened", "guardrail_failed_to_respond")
    return check["layer"] == "preprocess" and status in stopping


def _violation(info: Mapping[str, Any]) -> str | None:
    """The violation's category, when the guardrail said one: what it masked or classified."""
    masked = info.get("masked_entity_count")
    if isinstance(masked, Mapping) and masked:
        return ",".join(sorted(str(name) for name in masked))[:100]
    classification = info.get("classification")
    if isinstance(classification, str) and classification:
        return classification[:100]
    return None


def _token_parts(payload: Mapping[str, Any], input_tokens: int, output_tokens: int) -> Fields:
    """Cache-read, cache-write and reasoning tokens from LiteLLM's usage object, clipped to
    the totals they are parts of (the server refuses parts larger than their whole)."""
    usage = (payload.get("metadata") or {}).get("usage_object") or (
        payload.get("hidden_params") or {}
    ).get("usage_object")
    if not isinstance(usage, Mapping):
        return {}
    prompt = usage.get("prompt_tokens_details") or {}
    completion = usage.get("completion_tokens_details") or {}
    cache_read = _whole(prompt.get("cached_tokens") or usage.get("cache_read_input_tokens"))
    cache_write = _whole(
        usage.get("cache_creation_input_tokens")
        or prompt.get("cache_creation_tokens")
        or prompt.get("cache_write_tokens")
    )
    reasoning = _whole(completion.get("reasoning_tokens"))
    cache_read = min(cache_read, input_tokens)
    cache_write = min(cache_write, input_tokens - cache_read)
    parts: Fields = {}
    if cache_read:
        parts["cache_read_tokens"] = cache_read
    if cache_write:
        parts["cache_write_tokens"] = cache_write
    if reasoning:
        parts["reasoning_tokens"] = min(reasoning, output_tokens)
    return parts


def _request_metadata(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The caller's metadata: the SDK's `metadata=`, the proxy's request metadata on top."""
    params = kwargs.get("litellm_params") or {}
    merged: dict[str, Any] = {}
    for name in ("metadata", "litellm_metadata"):
        bucket = params.get(name)
        if isinstance(bucket, Mapping):
            merged.update(bucket)
            requester = bucket.get("requester_metadata")
            if isinstance(requester, Mapping):
                merged.update({k: v for k, v in requester.items() if k.startswith("tollgate_")})
    return merged


def _request_id(payload: Mapping[str, Any], metadata: Mapping[str, Any], call_id: str) -> str:
    given = metadata.get("tollgate_request_id")
    if isinstance(given, str) and 0 < len(given) <= 128:
        return given
    trace = payload.get("trace_id")  # one id across a call's retries and fallbacks
    return str(trace or call_id)[:128]


def _attributes(payload: Mapping[str, Any], call_id: str) -> Fields:
    attributes: Fields = {"litellm_call_id": call_id}
    for key in ("model_group", "call_type", "api_base"):
        value = payload.get(key)
        if isinstance(value, str) and value:
            attributes[key] = value[:200]
    if payload.get("stream"):
        attributes["stream"] = True
    if payload.get("cache_hit"):
        attributes["cache_hit"] = True
    return attributes


def _event_id(call_id: str, kind: str, detail: str) -> str:
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{call_id}:{kind}:{detail}"))


def _epoch(value: Any) -> float | None:
    if isinstance(value, (int, float)) and math.isfinite(value) and value > 0:
        return float(value)
    timestamp = getattr(value, "timestamp", None)  # a datetime
    return float(timestamp()) if callable(timestamp) else None


def _latency_ms(started: float | None, ended: float | None) -> float:
    if started is None or ended is None or ended < started:
        return 0.0
    return (ended - started) * 1000.0


def _duration_ms(info: Mapping[str, Any]) -> float:
    duration = info.get("duration")  # seconds
    if isinstance(duration, (int, float)) and math.isfinite(duration) and duration >= 0:
        return float(duration) * 1000.0
    return _latency_ms(_epoch(info.get("start_time")), _epoch(info.get("end_time")))


def _whole(value: Any) -> int:
    return value if type(value) is int and value >= 0 else 0


_proxy_handler: TollgateLogger | None = None


def __getattr__(name: str) -> Any:
    """`proxy_handler`: the instance LiteLLM's proxy loads from config.yaml, made on first use
    from TOLLGATE_URL, TOLLGATE_API_KEY, TOLLGATE_MODE and TOLLGATE_ENVIRONMENT."""
    global _proxy_handler
    if name != "proxy_handler":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _proxy_handler is None:
        _proxy_handler = TollgateLogger(
            mode=os.environ.get("TOLLGATE_MODE", "hybrid"),
            environment=os.environ.get("TOLLGATE_ENVIRONMENT") or None,
        )
    return _proxy_handler
