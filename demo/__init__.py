"""``make demo``: the product against the embedded local acceptor, end to end."""
