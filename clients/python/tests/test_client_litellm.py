"""The LiteLLM callback with real LiteLLM calls answered by `mock_response` (no network)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from receiver import Receiver

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # LiteLLM's price map from the package
litellm = pytest.importorskip("litellm")

from litellm.exceptions import GuardrailRaisedException  # noqa: E402
from litellm.integrations.custom_guardrail import (  # noqa: E402
    CustomGuardrail,
    log_guardrail_information,
)
from litellm.types.utils import (  # noqa: E402
    CompletionTokensDetailsWrapper,
    ModelResponse,
    PromptTokensDetailsWrapper,
    Usage,
)

from tollgate_client import Client  # noqa: E402
from tollgate_client.litellm import TollgateLogger  # noqa: E402

MESSAGES = [{"role": "user", "content": "What is a tollgate?"}]


class PiiGuardrail(CustomGuardrail):
    """A pre-call guardrail as LiteLLM users write them: block secrets, mask phone numbers."""

    @log_guardrail_information
    async def async_pre_call_hook(
        self, user_api_key_dict: Any, cache: Any, data: dict[str, Any], call_type: str
    ) -> dict[str, Any]:
        text = data["messages"][-1]["content"]
        if "password" in text:
            raise GuardrailRaisedException(
                guardrail_name=self.guardrail_name, message="secret in prompt"
            )
        if "555-0100" in text:
            data["messages"][-1]["content"] = text.replace("555-0100", "[PHONE]")
        return data


@pytest.fixture
def receiver(make_receiver: Callable[..., Receiver]) -> Receiver:
    return make_receiver()


def callbacks_set(*callbacks: Any) -> None:
    """Register exactly these callbacks: LiteLLM copies `litellm.callbacks` into internal lists
    on the first call, so an earlier test's logger would otherwise still be called."""
    litellm.logging_callback_manager._reset_all_callbacks()
    litellm.callbacks = list(callbacks)


@pytest.fixture
def logger(receiver: Receiver, make_client: Callable[..., Client]) -> Iterator[TollgateLogger]:
    callback = TollgateLogger(client=make_client(receiver.url), mode="hybrid")
    callbacks_set(callback)
    yield callback
    callbacks_set()


def delivered(receiver: Receiver, logger: TollgateLogger, count: int) -> list[dict[str, Any]]:
    """Wait for LiteLLM's callback thread to report `count` events and the client to send them."""
    assert receiver.wait_for(count, timeout_s=30), f"got {len(receiver.events())} of {count}"
    assert logger.client.flush(timeout_s=30)
    return receiver.events()


def only(events: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    matching = [event for event in events if event["type"] == kind]
    assert len(matching) == 1, matching
    return matching[0]


def test_a_completion_is_one_routing_event(receiver: Receiver, logger: TollgateLogger) -> None:
    response = litellm.completion(model="gpt-4o", messages=MESSAGES, mock_response="A gate.")

    routing = only(delivered(receiver, logger, 1), "routing")
    assert response.choices[0].message.content == "A gate."
    assert (routing["model"], routing["provider"], routing["mode"]) == (
        "gpt-4o",
        "openai",
        "hybrid",
    )
    assert (routing["input_tokens"], routing["output_tokens"]) == (
        response.usage.prompt_tokens,
        response.usage.completion_tokens,
    )
    assert routing["status"] == "ok" and "error_type" not in routing
    assert routing["cost_usd"] == pytest.approx(response._hidden_params["response_cost"])
    assert routing["cost_usd"] > 0
    assert routing["latency_ms"] >= 0
    assert routing["attributes"]["litellm_call_id"]
    assert len(routing["request_id"]) == 36  # LiteLLM's trace id


def test_the_request_id_can_be_given_in_metadata(
    receiver: Receiver, logger: TollgateLogger
) -> None:
    litellm.completion(
        model="gpt-4o",
        messages=MESSAGES,
        mock_response="ok",
        metadata={"tollgate_request_id": "checkout-42"},
    )
    assert only(delivered(receiver, logger, 1), "routing")["request_id"] == "checkout-42"


def test_cache_and_reasoning_tokens_are_reported(
    receiver: Receiver, logger: TollgateLogger
) -> None:
    usage = Usage(
        prompt_tokens=1000,
        completion_tokens=200,
        total_tokens=1200,
        prompt_tokens_details=PromptTokensDetailsWrapper(cached_tokens=600),
        completion_tokens_details=CompletionTokensDetailsWrapper(reasoning_tokens=80),
        cache_creation_input_tokens=100,
    )
    answer = ModelResponse(
        model="gpt-4o",
        choices=[
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}
        ],
        usage=usage,
    )
    litellm.completion(model="gpt-4o", messages=MESSAGES, mock_response=answer)

    routing = only(delivered(receiver, logger, 1), "routing")
    assert (routing["input_tokens"], routing["output_tokens"]) == (1000, 200)
    assert routing["cache_read_tokens"] == 600
    assert routing["cache_write_tokens"] == 100
    assert routing["reasoning_tokens"] == 80


def test_acompletion_and_streams_are_reported_once_each(
    receiver: Receiver, logger: TollgateLogger
) -> None:
    async def calls() -> None:
        await litellm.acompletion(model="gpt-4o", messages=MESSAGES, mock_response="async")
        stream = await litellm.acompletion(
            model="gpt-4o", messages=MESSAGES, mock_response="async stream", stream=True
        )
        async for _ in stream:
            pass
        # Keep the loop alive while LiteLLM's logging tasks run on it.
        assert await asyncio.to_thread(receiver.wait_for, 2, 30)

    asyncio.run(calls())
    for _ in litellm.completion(
        model="gpt-4o", messages=MESSAGES, mock_response="sync stream", stream=True
    ):
        pass

    events = delivered(receiver, logger, 3)
    assert len(events) == 3
    assert all(event["type"] == "routing" and event["status"] == "ok" for event in events)
    streamed = [event for event in events if event["attributes"].get("stream")]
    assert len(streamed) == 2
    assert all(event["output_tokens"] > 0 for event in streamed)  # the assembled stream's usage
    assert len({event["request_id"] for event in events}) == 3


@pytest.mark.parametrize(
    ("error", "status", "error_type"),
    [
        (
            lambda: litellm.RateLimitError(
                message="slow down", llm_provider="openai", model="gpt-4o"
            ),
            "rate_limited",
            "RateLimitError",
        ),
        (lambda: Exception("upstream broke"), "error", "InternalServerError"),
    ],
)
def test_a_failed_call_is_a_routing_event_with_its_error(
    receiver: Receiver,
    logger: TollgateLogger,
    error: Callable[[], Exception],
    status: str,
    error_type: str,
) -> None:
    with pytest.raises(Exception):  # noqa: B017  (LiteLLM maps the kind; the event says which)
        litellm.completion(model="gpt-4o", messages=MESSAGES, mock_response=error())

    routing = only(delivered(receiver, logger, 1), "routing")
    assert (routing["status"], routing["error_type"]) == (status, error_type)
    assert (routing["input_tokens"], routing["output_tokens"]) == (0, 0)
    assert "cost_usd" not in routing  # nothing billed: Tollgate prices it from its matrix


def test_a_timeout_is_status_timeout(receiver: Receiver, logger: TollgateLogger) -> None:
    with pytest.raises(litellm.Timeout):
        litellm.completion(model="gpt-4o", messages=MESSAGES, mock_timeout=True, timeout=0.01)
    routing = only(delivered(receiver, logger, 1), "routing")
    assert (routing["status"], routing["error_type"]) == ("timeout", "Timeout")


def test_a_router_fallback_names_the_model_it_left(
    receiver: Receiver, logger: TollgateLogger
) -> None:
    router = litellm.Router(
        model_list=[
            {"model_name": "primary", "litellm_params": {"model": "gpt-4o", "mock_response": "p"}},
            {
                "model_name": "backup",
                "litellm_params": {"model": "gpt-4o-mini", "mock_response": "from backup"},
            },
        ],
        fallbacks=[{"primary": ["backup"]}],
        num_retries=0,
    )
    response = router.completion(model="primary", messages=MESSAGES, mock_testing_fallbacks=True)

    assert response.choices[0].message.content == "from backup"
    events = delivered(receiver, logger, 1)
    answered = [event for event in events if event["status"] == "ok"]
    assert len(answered) == 1
    routing = answered[0]
    assert routing["model"] == "gpt-4o-mini"
    assert (routing["fallback_from"], routing["route_reason"]) == ("primary", "fallback")
    assert routing["attributes"]["model_group"] == "backup"


def test_guardrail_results_are_enforcement_events(
    receiver: Receiver, logger: TollgateLogger
) -> None:
    guardrail = PiiGuardrail(guardrail_name="pii", event_hook="pre_call", default_on=True)
    callbacks_set(logger, guardrail)

    async def calls() -> None:
        for text, request_id in [
            ("hello", "clean"),
            ("call me at 555-0100", "masked"),
            ("my password is hunter2", "blocked"),
        ]:
            try:
                await litellm.acompletion(
                    model="gpt-4o",
                    messages=[{"role": "user", "content": text}],
                    mock_response="ok",
                    guardrails=["pii"],
                    metadata={"tollgate_request_id": request_id},
                )
            except Exception as exc:  # the blocked one
                assert request_id == "blocked", exc
        assert await asyncio.to_thread(receiver.wait_for, 5, 30)

    asyncio.run(calls())
    events = delivered(receiver, logger, 5)
    checks = {event["request_id"]: event for event in events if event["type"] == "enforcement"}
    routed = {event["request_id"]: event for event in events if event["type"] == "routing"}

    assert {name: check["verdict"] for name, check in checks.items()} == {
        "clean": "allow",
        "masked": "modify",
        "blocked": "block",
    }
    assert all(check["policy"] == "pii" for check in checks.values())
    assert all(check["layer"] == "preprocess" for check in checks.values())
    assert all(check["mode"] == "hybrid" for check in checks.values())
    assert all(check["check_latency_ms"] >= 0 for check in checks.values())
    # The blocked request never reached a model: no routing event, only its check.
    assert set(routed) == {"clean", "masked"}
    assert all(event["status"] == "ok" for event in routed.values())


def test_a_payload_it_cannot_read_is_logged_not_raised(
    receiver: Receiver, make_client: Callable[..., Client], caplog: pytest.LogCaptureFixture
) -> None:
    # LiteLLM swallows a callback's exceptions too, so call the hooks directly to see ours.
    callback = TollgateLogger(client=make_client(receiver.url))
    unreadable: dict[str, Any] = {"standard_logging_object": None}
    callback.log_success_event(unreadable, None, None, None)
    asyncio.run(callback.async_log_failure_event(unreadable, None, None, None))

    failures = [record for record in caplog.records if record.name == "tollgate_client"]
    assert len(failures) == 2
    assert all("could not report a LiteLLM call" in record.getMessage() for record in failures)
    assert callback.client.stats()["queued"] == 0


def test_the_proxy_handler_is_made_from_the_environment(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tollgate_client.litellm as module

    monkeypatch.setenv("TOLLGATE_URL", receiver.url)
    monkeypatch.setenv("TOLLGATE_API_KEY", "tg_test_key")
    monkeypatch.setenv("TOLLGATE_MODE", "routing_first")
    monkeypatch.setattr(module, "_proxy_handler", None)
    handler = (
        module.proxy_handler
    )  # what config.yaml's `tollgate_client.litellm.proxy_handler` loads
    try:
        assert isinstance(handler, TollgateLogger)
        assert handler.mode == "routing_first"
        assert handler.client.url == f"{receiver.url}/api/v1/ingest"
        assert module.proxy_handler is handler  # one instance per process
    finally:
        handler.client.close(timeout_s=1)
