"""The kernel's own plugins: they register through the same hooks as every other plugin."""
