"""Expected failures. The core raises them; only the CLI turns them into exit codes."""


class BackpropError(Exception):
    """A failure the user can act on; printed as one line, never as a traceback."""

    exit_code = 1


class UsageProblem(BackpropError):
    """Bad input: an option value, a config file, a data file (exit 2)."""

    exit_code = 2


class ConfigError(UsageProblem):
    """A config file that cannot be read, parsed or validated."""


class InputError(UsageProblem):
    """A value or data file that the computation cannot accept."""


class OutputError(BackpropError):
    """An output folder or file that cannot be created or written (exit 1)."""


class GradientCheckError(AssertionError):
    """A gradient check found an error (`assert_gradients`): a wrong gradient, named.

    An AssertionError, so pytest reports it as a test's failure, not an error in the test. The
    message is the findings as a short block (code, input, where, fix); ``result`` is the whole
    check (``result.findings``, ``result.to_dict()``) for a caller that wants more.
    """

    def __init__(self, message: str, result: object = None):
        super().__init__(message)
        self.result = result
