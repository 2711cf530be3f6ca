"""One module per dashboard page: a plain function building the page's context from the
selectors the metrics API uses (no HTTP here)."""
