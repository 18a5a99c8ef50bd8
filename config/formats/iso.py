"""The formats every language module of the portal takes (see ``config/formats/__init__.py``)."""

__all__ = [
    "DATE_FORMAT",
    "SHORT_DATE_FORMAT",
    "DATETIME_FORMAT",
    "SHORT_DATETIME_FORMAT",
    "TIME_FORMAT",
    "DATETIME_INPUT_FORMATS",
]

# Display (Django's date-filter syntax): one style whatever the filter a template names.
DATE_FORMAT = SHORT_DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = SHORT_DATETIME_FORMAT = "Y-m-d H:i"
TIME_FORMAT = "H:i"

# Input (strftime syntax): the first is also how a form writes a value back into its field, so a date field's value
# is ISO in every language -- the only value an <input type="date"> accepts.
DATETIME_INPUT_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"]
