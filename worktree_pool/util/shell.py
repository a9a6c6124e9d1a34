"""Text as a POSIX shell reads it back: for the lines wtpool writes for a shell (hand-off files,
hooks) and the commands it suggests."""


def shell_quote(text: str) -> str:
    """`text` single-quoted, always (also when it needs no quoting): a hand-off file's values
    then read the same to sh and to the dotenv parsers that strip one pair of quotes."""
    return "'" + text.replace("'", "'\\''") + "'"
