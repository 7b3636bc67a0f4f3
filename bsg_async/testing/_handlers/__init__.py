"""The emulator's handlers, one module per resource of the Contacts family.

A handler takes the account (``_state.Account``) and one ``Call`` and
returns a ``Reply``, or raises ``ApiError`` for the API's error answers. It
reads records and changes them only through the account's methods. The
login and the refresh (``auth``) take the emulator, which issues tokens.
"""
