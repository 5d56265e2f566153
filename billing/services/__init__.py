"""Services: the only code that writes billing rows. Each is atomic, audited and emits its events."""
