"""Rooms: room orchestration for live audio, shared by every function through the layer."""
