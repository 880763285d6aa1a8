"""Bus edge: publish after commit, fan out to every subscriber (in-process or over Redis)."""

from onchain.bus.base import Bus, BusError, Message, Subscription
from onchain.bus.memory import MemoryBus

__all__ = ["Bus", "BusError", "MemoryBus", "Message", "Subscription"]
