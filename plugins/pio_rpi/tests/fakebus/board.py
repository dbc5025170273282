"""A fake Blinka ``board``."""

SCL = "SCL"
SDA = "SDA"
