"""Reading an ingest body safely: media type, encoding, size limits before and after gzip."""

from __future__ import annotations

import zlib
from typing import Any

import orjson
from rest_framework import exceptions, status
from rest_framework.request import Request


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


class BadBody(exceptions.ParseError):
    """A 400 that names the part of the body at fault."""

    def __init__(self, detail: str, *, field: str = "body", code: str = "invalid_body") -> None:
        super().__init__(detail, code=code)
        self.field = field


def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isascii() and declared.isdecimal() and int(declared) > limit:
        raise PayloadTooLarge(f"The request body exceeds {limit} bytes.")
    body = request.stream.read(limit + 1) if request.stream is not None else b""
    if len(body) > limit:
        raise PayloadTooLarge(f"The request body exceeds {limit} bytes.")
    return body


def _gunzip_limited(body: bytes, limit: int) -> bytes:
    """Decompress at most `limit` bytes (a small gzip body can expand without bound), member
    after member as RFC 1952 allows; anything after the last member is an error."""
    parts: list[bytes] = []
    size = 0
    remaining = body
    while remaining:
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            data = decompressor.decompress(remaining, limit - size + 1)
        except zlib.error:
            raise BadBody("The body is not valid gzip.", code="invalid_gzip") from None
        size += len(data)
        if size > limit or decompressor.unconsumed_tail:
            raise PayloadTooLarge(f"The decompressed body exceeds {limit} bytes.")
        if not decompressor.eof:
            raise BadBody("The gzip body is truncated.", code="invalid_gzip")
        parts.append(data)
        remaining = decompressor.unused_data
    return b"".join(parts)


def media_type_of(request: Request) -> str:
    """The request's media type without parameters, lower-cased ("" when absent)."""
    return request.content_type.split(";", 1)[0].strip().lower()


def raw_body(request: Request, *, limit: int, media_types: tuple[str, ...]) -> tuple[str, bytes]:
    """The media type and the decompressed body; 415, 413 or 400 when it is not acceptable."""
    media_type = media_type_of(request)
    if media_type not in media_types:
        raise exceptions.UnsupportedMediaType(
            media_type or "(none)",
            detail=f"Content-Type {media_type or '(none)'!r} is not supported; "
            f"use {' or '.join(media_types)}.",
        )
    encoding = request.META.get("HTTP_CONTENT_ENCODING", "identity").strip().lower()
    if encoding not in ("identity", "gzip", ""):
        raise exceptions.UnsupportedMediaType(
            media_type, detail=f"Content-Encoding {encoding!r} is not supported; use gzip."
        )
    body = _read_limited(request, limit)
    if encoding == "gzip":
        body = _gunzip_limited(body, limit)
    if not body:
        raise BadBody("The body is empty (a body needs a Content-Length).", code="empty_body")
    return media_type, body


def json_body(request: Request, *, limit: int) -> Any:
    """The parsed JSON body; 415, 413 or 400 when it is not acceptable."""
    _, body = raw_body(request, limit=limit, media_types=("application/json",))
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadBody(f"The body is not valid JSON: {exc}", code="invalid_json") from None
