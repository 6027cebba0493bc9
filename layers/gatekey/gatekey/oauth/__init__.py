"""OAuth 2.0 and OpenID Connect: discovery and JWKS, the token endpoint, introspection."""
