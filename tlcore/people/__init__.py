"""People: who is asking (a person and their role), classes and their join tokens.

In single-user mode there is one person, LOCAL, who may do everything, and nothing here is read.
A class server signs each browser in as a person of its class; the store then answers every call on
that person's behalf (tlcore.runs.store.owners). Below the store: imports only the root modules.
"""
from tlcore.people.person import LOCAL, Person

__all__ = ["LOCAL", "Person"]
