class Pin:
    A0, A1, A2, A3 = 0, 1, 2, 3
