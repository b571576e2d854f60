"""Helpers shared by test modules: waiting for eventual state, and the like."""
