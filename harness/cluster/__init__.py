"""The local kind cluster: the registry-free node image, cluster lifecycle, and the context guard."""
