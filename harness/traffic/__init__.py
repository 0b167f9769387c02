"""Traffic: the Locust process (``worker``) and its runner in the harness process (``runner``)."""
