"""Vendor apps: registration (portal and RFC 7591 dynamic registration), admin approval, client credentials."""
