"""English: ISO dates; numbers as Django writes them in English (12,500.5)."""

from config.formats.iso import *  # noqa: F403

# ISO only: 03/04/2026 reads as March to some allies and April to others, so it is not guessed at.
DATE_INPUT_FORMATS = ["%Y-%m-%d"]
