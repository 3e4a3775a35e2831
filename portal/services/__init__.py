"""The domain: plain functions over (session, actor, now, inputs). No Flask request state."""
