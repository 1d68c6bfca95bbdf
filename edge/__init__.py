"""iHanoi lobby signage agent: plays the iHanoi promo on HUB75 boards and reports every play."""

__version__ = "0.1.0"
