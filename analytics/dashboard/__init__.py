"""The web dashboard (DESIGN.md "Who uses it"): server-rendered pages for ops and finance."""
