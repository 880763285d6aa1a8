"""Edge: chain data in (live RPC, recorded replay), `BlockBundle`s out."""
