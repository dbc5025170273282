"""A small plugin the kernel's tests install: a job, an action, a command and config defaults."""
