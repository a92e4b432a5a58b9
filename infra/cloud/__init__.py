"""The cloud API (contract section 2): client, URL policy, reading runner JWTs."""
