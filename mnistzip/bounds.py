"""The bounds of the options a user gives, in one place and without NumPy: the command line states them in its
help (which must answer at once), the library refuses a value outside them."""

MAX_SCALE = 16  # --scale: each pixel of a PNG drawn as a square this wide at most (a 16-digit grid: 1792 px wide)
MAX_SAMPLES = 4096  # sample -n: a 64 x 64 grid
