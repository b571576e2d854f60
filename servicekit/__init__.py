"""Small shared infrastructure for Cairn's services: environment parsing, logging, topics.

Nothing here knows about a particular service; each service builds its own typed settings
object from these helpers in its entry point.
"""
