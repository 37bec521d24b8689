"""The action registry: every remediation healer knows, by name, with its params.

An action type is a name (kebab-case, as runbooks spell it), the kinds of object it acts
on, a params spec that validates a step's `params` and builds a frozen params object, and
its `prepare` (the two-phase interface of `base`). An action registered without a
`prepare` is known to runbooks (they validate) but not available yet: the engine records
its step as `failed: action not available`.
Runbooks are checked against the registry when they load, so a misspelled action or
param fails at `healer validate`. Registering a name twice is an error at import time.

Neighbours: `healer.runbook.format` consumes the registry through its `ActionCatalog`
protocol; `catalog` registers the built-in actions into `default_registry`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from healer.actions.base import Prepare
from healer.runbook.spec import Spec


@dataclass(frozen=True)
class ActionType:
    name: str
    summary: str
    targets: frozenset[str]  # kinds of object it acts on
    params: Spec  # validates `params`, builds the frozen params object
    prepare: Prepare | None = None  # None: registered, but not available yet


class DuplicateActionError(ValueError):
    """Two action types registered under one name: a programming error."""


class ActionRegistry:
    """Action types by name; an explicit object, never module-level state."""

    def __init__(self, actions: Iterable[ActionType] = ()) -> None:
        self._actions: dict[str, ActionType] = {}
        for action in actions:
            self.register(action)

    def register(self, action: ActionType) -> ActionType:
        if action.name in self._actions:
            raise DuplicateActionError(f"action '{action.name}' is registered twice")
        self._actions[action.name] = action
        return action

    def get(self, name: str) -> ActionType | None:
        return self._actions.get(name)

    def names(self) -> Iterable[str]:
        return self._actions.keys()

    def __iter__(self) -> Iterator[ActionType]:
        return iter(self._actions.values())
