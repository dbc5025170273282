"""pio_od: OD reading, blanks, OD calibration and growth-rate estimation."""
