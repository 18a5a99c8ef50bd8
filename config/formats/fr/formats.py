"""French: ISO dates; numbers as Django writes them in French (12 500,5)."""

from config.formats.iso import *  # noqa: F403

# ISO first (what a field shows); a date typed the French way is still understood.
DATE_INPUT_FORMATS = ["%Y-%m-%d", "%d/%m/%Y"]
