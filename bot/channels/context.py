"""What a channel plugin is given and what the server asks of it. Channels import this, not
`hailong.server`: the server sits above the channels and mounts them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from fastapi import FastAPI
from sqlalchemy.engine import Engine

from base.settings import Settings
from bot.asgi import Handler
from bot.batcher import TurnBatcher
from bot.service import ConversationService


@dataclass
class AppContext:
    """What every channel plugin is given."""

    settings: Settings
    engine: Engine
    service: ConversationService
    # Channels run turns through it: one transaction for all requests in flight.
    turns: TurnBatcher = field(init=False)
    # Webhook paths a channel serves as plain ASGI, ahead of FastAPI (bot.asgi).
    fast_routes: dict[str, Handler] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # PostgreSQL: a second writer computes the next batch while a write is in the
        # database (bot.batcher); SQLite writes one transaction at a time.
        postgres = self.engine.dialect.name == "postgresql"
        writers = self.settings.turn_writers or (2 if postgres else 1)
        self.turns = TurnBatcher(self.service, writers=writers)


class ChannelPlugin(Protocol):
    """A channel adapter as the server sees it."""

    name: str

    def install(self, app: FastAPI) -> None:
        """Add the channel's routes to the app."""

    async def start(self) -> None:
        """Start background work (sender loop, PTB Application) once the app starts."""

    async def stop(self) -> None:
        """Stop it cleanly, leaving undelivered messages in the outbox."""
