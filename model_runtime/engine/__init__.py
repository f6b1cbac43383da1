"""Streaming engine: audio-clocked, pipelined clip generation."""
