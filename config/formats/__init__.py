"""Date and time formats of the portal, the same in every language (FORMAT_MODULE_PATH in config/settings.py).

Allied officers read each other's dates: ``12/11/2026`` is 11 December to one and 12 November to another.  Dates are
ISO 8601 (``2026-12-14``) and times 24-hour UTC (``2026-12-14 09:30``) in English and in French; numbers keep each
language's separators (Django's own locale formats, which these modules only override for dates and times)."""
