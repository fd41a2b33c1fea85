"""The authorization server: code + PKCE (S256 only), RAR, refresh rotation with reuse detection, revocation,
introspection, metadata, device grant for the extension, pairwise subjects. One module per specification."""
