"""bdlab's simulator: settings, profiles, the client factory and the local AWS emulator."""
