"""stepinst: SUP-NATINST with step-by-step instructions and their human quality ratings."""

__version__ = "0.1.0"
