"""The emulator's handlers, one module per resource of the Contacts family.

A handler takes the emulator and one ``Call`` and returns a ``Reply``, or
raises ``ApiError`` for the API's error answers.
"""
