"""Lab 2.2.4: real-time log streaming: agent, stream, consumer counting status codes."""
