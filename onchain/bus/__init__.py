"""Bus edge: publish after commit, fan out to every subscriber (in-process or over Redis)."""

from onchain.bus.base import BLOCKS, EVENTS, REORG, Bus, BusError, Message, Subscription
from onchain.bus.memory import MemoryBus

__all__ = ["BLOCKS", "EVENTS", "REORG", "Bus", "BusError", "MemoryBus", "Message", "Subscription"]
