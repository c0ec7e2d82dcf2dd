"""Exceptions that carry a message meant for the user: the culprit (config key, file, line) is named."""


class AutoLoRAError(Exception):
    """Base class for every error the pipeline reports to the user."""


class ConfigError(AutoLoRAError):
    """A configuration value is invalid; the message names the key."""


class DataError(AutoLoRAError):
    """A data file is missing or malformed; the message names the file (and line)."""


class TrainingError(AutoLoRAError):
    """Training went wrong (for example a non-finite loss); the message names the step."""


class CheckpointError(AutoLoRAError):
    """A checkpoint cannot be read or does not fit the job resuming it; the message names the file."""


class OutputError(AutoLoRAError):
    """An output cannot be written (folder missing rights, a file where a folder should be)."""
