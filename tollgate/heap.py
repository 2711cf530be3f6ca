"""A serving process's heap, settled once the application has loaded.

What Django, the URLconf and every view import stays for the process's life: about 150,000
objects the cyclic garbage collector would otherwise walk again at each full collection. On
this 2-core machine one such walk takes 45-60 ms, paid by whichever request happens to trigger
it (a dashboard page or `/compare` allocates enough to, every so often). Frozen, they are left
out of every collection; what requests allocate is collected as before.
"""

from __future__ import annotations

import gc

from django.urls import get_resolver


def heap_settle() -> int:
    """Import every view now (Django would at the first request), collect what loading left
    behind, and move every object alive to the collector's permanent generation. Return how
    many objects were frozen."""
    get_resolver().url_patterns  # noqa: B018 (the property imports the URLconfs and views)
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
