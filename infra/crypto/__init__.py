"""Keys and secrets: the PoP signer, JWKs, the key store, token sealing, private files."""
