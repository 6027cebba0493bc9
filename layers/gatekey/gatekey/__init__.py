"""gatekey: the token logic, store and settings shared by every gatekey function."""

__version__ = "0.1.0"
