"""OTLP/HTTP trace intake (DESIGN.md "OTLP intake"): `codec` reads an ExportTraceServiceRequest
from protobuf or OTLP JSON and writes the answer in the same encoding; `mapping` turns GenAI and
guardrail spans into the event dicts the ingest path validates, prices and stores."""
