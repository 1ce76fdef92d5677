"""Policies the lab tests load into the examples (`--policy FILE:CLASS`)."""

import gecko


class Raising(gecko.GeckoPolicy):
    """A policy whose select_target always raises."""

    def select_target(self, client):
        raise RuntimeError("policy failure on purpose")
