"""Built-in example scenarios (`fleetplan plan` with no file runs `chat-8b.yaml`)."""
