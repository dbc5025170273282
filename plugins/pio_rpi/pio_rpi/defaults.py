"""Config defaults of the Pi backend, kept free of imports: every `pio` process reads them."""

from __future__ import annotations

DEFAULT_RPI_CONFIG: dict[str, str] = {
    "gpiochip": "0",
    "pwm_1_pin": "17", "pwm_2_pin": "13", "pwm_3_pin": "16", "pwm_4_pin": "12", "pwm_5_pin": "18",
    "pwm_hz": "200",  # per channel: pwm_<channel>_hz
    "pwm_5_hz": "16",  # the heater: slow PWM is kinder to its MOSFET
    "tachometer_pin": "25",
    "ads1115_address": "0x48",
    "ads1115_gain": "1",  # 2/3, 1, 2, 4, 8 or 16: full scale 6.144 .. 0.256 V
    "tmp1075_address": "0x4f",
    "dac43608_address": "0x49",
    "led_a_dac_channel": "0", "led_b_dac_channel": "1", "led_c_dac_channel": "2", "led_d_dac_channel": "3",
}
