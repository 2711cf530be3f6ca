"""tollgate-client: send routing and policy-enforcement events to Tollgate.

    from tollgate_client import Client
    client = Client()  # TOLLGATE_URL and TOLLGATE_API_KEY
    client.routing(request_id="r-1", model="gpt-5.4", mode="hybrid", input_tokens=1200,
                   output_tokens=300, latency_ms=142.0, status="ok")

The LiteLLM callback is `tollgate_client.litellm.TollgateLogger` (extra `[litellm]`).
"""

from tollgate_client.client import VERSION as __version__
from tollgate_client.client import Client

__all__ = ["Client", "__version__"]
