"""Grants: consent records (what a consumer allowed a vendor), narrowing, expiry, revocation, signed receipts."""
