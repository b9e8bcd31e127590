"""Public ops: validation, backend dispatch and chunking around the backend kernels."""
