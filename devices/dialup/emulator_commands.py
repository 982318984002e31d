"""The modem emulator's reading of an AT command line: `ATE0S0=0&C1` -> E0, S0=0, &C1.

Like a real modem it looks for `AT` anywhere in the line (bytes before it, such as a `+++`
sent to a modem already in command mode, are ignored) and ignores spaces.
"""

from __future__ import annotations

import msgspec

# Commands taken with an optional number and otherwise ignored: they set things (speaker,
# verbosity, result set) that an emulated line does not have.
IGNORED_LETTERS = frozenset("BCLMNQVWXY")


class AtCommand(msgspec.Struct, frozen=True):
    name: str  # "A", "D", "E", "H", "I", "O", "Z", "S", "&C", or an ignored letter
    argument: str = ""  # digits; D's dial string; S's "0=2" or "0?"


class AtSyntaxError(ValueError):
    pass


def find_command_line(raw: bytes) -> str | None:
    """The commands after `AT` in a line, upper-case and without spaces; None if no AT."""
    text = raw.decode("ascii", "replace").upper()
    start = text.find("AT")
    if start < 0:
        return None
    return text[start + 2:].replace(" ", "")


def parse_commands(text: str) -> list[AtCommand]:
    """The commands of one line; D takes the rest of the line. AtSyntaxError: answer ERROR."""
    commands: list[AtCommand] = []
    index = 0
    while index < len(text):
        letter = text[index]
        index += 1
        if letter == "D":
            commands.append(AtCommand("D", text[index:].lstrip("TP")))
            break
        if letter == "&":
            if index >= len(text) or not text[index].isalpha():
                raise AtSyntaxError("& without a letter")
            letter, index = "&" + text[index], index + 1
        elif letter == "S":
            end = index
            while end < len(text) and (text[end].isdigit() or text[end] in "=?"):
                end += 1
            commands.append(AtCommand("S", text[index:end]))
            index = end
            continue
        elif letter not in "AEHIOZ" and letter not in IGNORED_LETTERS:
            raise AtSyntaxError(f"unknown command {letter}")
        end = index
        while end < len(text) and text[end].isdigit():
            end += 1
        commands.append(AtCommand(letter, text[index:end]))
        index = end
    return commands
