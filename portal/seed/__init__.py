"""Seed data: the demo practice and the starter exercise library, written by us."""
