"""Delivery to subscribers: the WebSocket gateway, its replay journal and its client."""
