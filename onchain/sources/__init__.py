"""Edge: chain data in (live RPC, recorded replay, local devnet), `BlockBundle`s out."""
