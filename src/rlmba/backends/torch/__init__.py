"""The pure-PyTorch backend: the reference implementations themselves, on any device."""
