"""The edges: the HTTP resolver and request models of the handlers, and the authorizer's
event reading and policy writing."""
