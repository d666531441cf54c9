"""Check groups, one module each, registered by group id in the order reports list them."""
