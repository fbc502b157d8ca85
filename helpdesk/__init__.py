"""Hospital patient-portal help desk."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

    from helpdesk.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: Settings | dict[str, Any] | None = None) -> Flask:
    """Build the application (helpdesk/app.py). Nothing here touches the database or Redis."""
    # lazy: the package stays light, so `import helpdesk.x` does not load every blueprint
    from helpdesk.app import create_app as build

    return build(config)
