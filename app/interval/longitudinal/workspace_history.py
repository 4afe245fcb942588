"""Undo and redo of the reader's actions: snapshots of the correction list.

Every action of the workspace changes the ordered correction list (usually by appending
one operation), and the whole state is derived from that list, so a command is simply
the list before and after it, with a label for the Edit menu ("rename L3").
"""

from __future__ import annotations

from dataclasses import dataclass, field

from interval.longitudinal.corrections import Correction


@dataclass(frozen=True)
class Command:
    """One reader action: the correction list before and after it."""

    label: str  # "rename L3", "adjust long axis of L1 at follow-up 1"
    before: tuple[Correction, ...]
    after: tuple[Correction, ...]


@dataclass
class History:
    """The undo and redo stacks (a new action clears the redo stack)."""

    undo_stack: list[Command] = field(default_factory=list)
    redo_stack: list[Command] = field(default_factory=list)

    def push(self, command: Command) -> None:
        self.undo_stack.append(command)
        self.redo_stack.clear()

    @property
    def can_undo(self) -> bool:
        return bool(self.undo_stack)

    @property
    def can_redo(self) -> bool:
        return bool(self.redo_stack)

    def undo(self) -> Command:
        if not self.undo_stack:
            raise IndexError("nothing to undo")
        command = self.undo_stack.pop()
        self.redo_stack.append(command)
        return command

    def redo(self) -> Command:
        if not self.redo_stack:
            raise IndexError("nothing to redo")
        command = self.redo_stack.pop()
        self.undo_stack.append(command)
        return command

    def undo_label(self) -> str:
        """"Undo rename L3" ("Undo" when there is nothing to undo)."""
        return f"Undo {self.undo_stack[-1].label}" if self.undo_stack else "Undo"

    def redo_label(self) -> str:
        return f"Redo {self.redo_stack[-1].label}" if self.redo_stack else "Redo"
