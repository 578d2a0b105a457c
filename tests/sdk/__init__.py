"""Tests of the client SDK, the `rooms` CLI and the storm simulation."""
