"""Column type helpers shared by the models."""

from __future__ import annotations

import enum

import sqlalchemy as sa


def enum_type(enum_cls: type[enum.Enum], length: int = 24) -> sa.Enum:
    """An enum column that stores the members' *values* as plain strings."""
    return sa.Enum(
        enum_cls,
        values_callable=lambda e: [m.value for m in e],
        native_enum=False,
        validate_strings=True,
        length=length,
        name=enum_cls.__name__.lower(),
    )
