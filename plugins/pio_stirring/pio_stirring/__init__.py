"""pio-stirring: the job ``stirring`` (hold a target RPM) and ``pio calibrate stirring``.

Names on the wire, defined once (see docs/stirring.md):
"""

from __future__ import annotations

__version__ = "0.1.0"

JOB_NAME = "stirring"
CONFIG_SECTION = "stirring"
CALIBRATION_DEVICE = "stirring"

# settings of the job, at pioreactor/<unit>/<experiment>/stirring/<setting>
TARGET_RPM = "target_rpm"
MEASURED_RPM = "measured_rpm"
DUTY_CYCLE = "duty_cycle"
PAUSED = "paused"
RPM_CONTROL = "rpm_control"

# other jobs ask for a brief stop here: {"requester": "od_reading", "duration_s": 0.5}
PAUSE_REQUEST = "pause_request"

CLOSED_LOOP, OPEN_LOOP = "closed_loop", "open_loop"
