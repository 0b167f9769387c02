"""Unit tests, laid out like the package (tests/unit/verdict for harness/verdict, ...).

Shared test helpers (traffic_reports.py) and recorded evidence (data/) live here, at the top."""
