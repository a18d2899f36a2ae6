"""The embedded AWS emulator: an HTTP gateway on 127.0.0.1 with one provider per service."""
