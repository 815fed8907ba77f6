"""Error types: each carries one line that names the setting, what was expected and what was found."""


class FlexUNetError(Exception):
    """Base class for errors a user can fix; the CLI prints the message as one line."""


class ConfigError(FlexUNetError):
    """A config file, section, key or value is missing or wrong."""


class DataError(FlexUNetError):
    """An image, mask or data folder is missing, unreadable or inconsistent."""


class ModelError(FlexUNetError):
    """A model cannot be built, or saved weights do not fit or are missing."""


class OutputError(FlexUNetError):
    """An output location is unsafe or cannot be written."""
